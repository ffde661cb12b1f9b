package audit

import (
	"fmt"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/bulwark-k8s/bulwark/internal/eventnote"
)

// ReasonPolicyViolation is the reason of the Event recorded on a violating object.
const ReasonPolicyViolation = "PolicyViolation"

// eventRepeat is how long an unchanged violation waits before its Event is recorded again:
// the apiserver keeps Events for an hour by default, so the object keeps one in view.
const eventRepeat = 55 * time.Minute

// eventDeduper remembers what was last reported on each object, so that an audit records an
// Event only for an object whose violations are new or changed, or whose last Event is old.
type eventDeduper struct {
	mu   sync.Mutex
	last map[types.UID]eventState
}

type eventState struct {
	digest   string
	recorded time.Time // when the Event was recorded
	seen     time.Time // the start of the last audit that found the object violating
}

func newEventDeduper() *eventDeduper { return &eventDeduper{last: map[types.UID]eventState{}} }

// due reports whether an Event is to be recorded on o in the audit started at now, and if so
// remembers it as recorded. With allowed false (the audit's Event budget is spent) it only
// keeps what it knows of o.
func (d *eventDeduper) due(o *Object, now time.Time, allowed bool) bool {
	digest := violationDigest(o)
	d.mu.Lock()
	defer d.mu.Unlock()
	st, ok := d.last[o.UID]
	if ok && st.digest == digest && now.Sub(st.recorded) < eventRepeat {
		st.seen = now
		d.last[o.UID] = st
		return false
	}
	if !allowed {
		if ok {
			st.seen = now
			d.last[o.UID] = st
		}
		return false
	}
	d.last[o.UID] = eventState{digest: digest, recorded: now, seen: now}
	return true
}

// forgetUnseen drops the objects the audit started at start did not find violating (fixed
// or deleted): should they violate again, they get an Event at once.
func (d *eventDeduper) forgetUnseen(start time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for uid, st := range d.last {
		if st.seen.Before(start) {
			delete(d.last, uid)
		}
	}
}

func violationDigest(o *Object) string {
	var b strings.Builder
	for _, v := range o.Violations {
		fmt.Fprintf(&b, "%s|%s|%s\n", v.Check, v.Action, v.Field)
	}
	return b.String()
}

// objectRef is what an Event regards: the object's kind, name and UID.
func objectRef(o *Object) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: o.APIVersion, Kind: o.GroupKind.Kind},
		ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace, UID: o.UID},
	}
}

// eventNote names o's violated checks on its first line and lists the violations, one per
// line, within the size of an Event's note: when the list is cut, every check is still named.
func eventNote(o *Object) string {
	var b strings.Builder
	distinct := map[string]bool{}
	var ids []string
	for _, v := range o.Violations {
		if !distinct[v.Check] {
			distinct[v.Check] = true
			ids = append(ids, "["+v.Check+"]")
		}
	}
	fmt.Fprintf(&b, "Bulwark audit: violates %d %s of the policy in force: %s", len(ids), plural(len(ids), "check", "checks"), strings.Join(ids, " "))
	for _, v := range o.Violations {
		b.WriteString("\n- ")
		b.WriteString(v.String())
		b.WriteString(" (")
		b.WriteString(string(v.Action))
		b.WriteString(")")
	}
	return eventnote.Fit(b.String(), "\n... (kubectl get policyreport bulwark has them all)")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
