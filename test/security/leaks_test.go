package security

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	tlscerts "github.com/bulwark-k8s/bulwark/pkg/certs"
)

// A leak finder. Secrets reach a log in many shapes: as text (a PEM with its newlines, or
// escaped as \n inside a JSON string), as base64 (zap encodes a []byte field that way, and a
// Secret's data is the base64 of the PEM), cut short, or as the numbers inside a parsed key.
// So every secret is looked for in each of its forms, and long forms also by overlapping
// windows, in the text as written and in a compact copy without whitespace and JSON escapes.

// window is the length of the pieces of a long form looked for: 24 base64 characters are 18
// bytes, far beyond chance.
const window = 24

// secret is one value that must not appear, in every form it could take.
type secret struct {
	what  string
	forms map[string]string // form name -> the form
}

// leakSet is everything one scan looks for.
type leakSet struct {
	secrets []secret
	// structural holds the windows every key of the same type shares (ASN.1 headers, curve
	// OIDs, PEM armour), and public the windows of public material (certificates, which
	// repeat a private key's public half): neither says anything about one secret.
	structural, public map[string]bool
}

func newLeakSet() *leakSet {
	s := &leakSet{structural: map[string]bool{}, public: map[string]bool{}}
	// Two unrelated keys, each in both encodings: the windows both keys have are structure.
	var seen [2]map[string]bool
	for i := range seen {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		sec1, _ := x509.MarshalECPrivateKey(k)
		pkcs8, _ := x509.MarshalPKCS8PrivateKey(k)
		seen[i] = map[string]bool{}
		for _, b := range []*pem.Block{{Type: "EC PRIVATE KEY", Bytes: sec1}, {Type: "PRIVATE KEY", Bytes: pkcs8}} {
			for _, f := range pemForms(pem.EncodeToMemory(b)) {
				for _, w := range windows(f) {
					seen[i][w] = true
				}
			}
		}
	}
	for w := range seen[0] {
		if seen[1][w] {
			s.structural[w] = true
		}
	}
	return s
}

// add looks for value as written, and by windows when it is long.
func (s *leakSet) add(what, value string) {
	if len(value) < 8 {
		panic(fmt.Sprintf("secret %s is too short to look for: %q", what, value))
	}
	s.secrets = append(s.secrets, secret{what: what, forms: map[string]string{
		"as written": value,
		"base64":     base64.StdEncoding.EncodeToString([]byte(value)),
	}})
}

// addPublic marks a certificate as public: its pieces are not taken for a private key's.
func (s *leakSet) addPublic(data []byte) {
	for _, f := range pemForms(data) {
		for _, w := range windows(f) {
			s.public[w] = true
		}
	}
}

// addPEM looks for a PEM block (a private key or a certificate) as text, as the base64 of the
// PEM (a Secret's data, a []byte field), as the base64 of its DER body (the PEM without its
// armour), and for an EC private key as the decimal and hexadecimal of its private scalar (a
// parsed key printed with %v).
func (s *leakSet) addPEM(what string, data []byte) {
	forms := pemForms(data)
	if block, _ := pem.Decode(data); block != nil {
		var key *ecdsa.PrivateKey
		if k, err := x509.ParseECPrivateKey(block.Bytes); err == nil {
			key = k
		} else if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
			key, _ = k.(*ecdsa.PrivateKey)
		}
		if key != nil {
			d, _ := key.Bytes()
			forms["private scalar, decimal"] = key.D.String()
			forms["private scalar, hex"] = hex.EncodeToString(d)
		}
	}
	s.secrets = append(s.secrets, secret{what: what, forms: forms})
}

// pemForms are the text, compact and base64 forms of a PEM block.
func pemForms(data []byte) map[string]string {
	out := map[string]string{
		"PEM text":       compact(string(data)),
		"base64 of PEM":  base64.StdEncoding.EncodeToString(data),
		"base64 of DER":  "",
		"base64url/DER":  "",
		"hex of the DER": "",
	}
	if block, _ := pem.Decode(data); block != nil {
		out["base64 of DER"] = base64.StdEncoding.EncodeToString(block.Bytes)
		out["base64url/DER"] = base64.RawURLEncoding.EncodeToString(block.Bytes)
		out["hex of the DER"] = hex.EncodeToString(block.Bytes)
	}
	for k, v := range out {
		if v == "" {
			delete(out, k)
		}
	}
	return out
}

// pieces is value itself when short, else its windows that are neither structural nor public.
func (s *leakSet) pieces(value string) []string {
	c := compact(value)
	if len(c) <= 2*window {
		return []string{c}
	}
	var out []string
	for _, w := range windows(c) {
		if !s.structural[w] && !s.public[w] {
			out = append(out, w)
		}
	}
	return out
}

// windows are the overlapping pieces of v, every half window, the last one flush with the end.
func windows(v string) []string {
	v = compact(v)
	if len(v) <= window {
		return []string{v}
	}
	var out []string
	for i := 0; i+window <= len(v); i += window / 2 {
		out = append(out, v[i:i+window])
	}
	return append(out, v[len(v)-window:])
}

// compact drops whitespace and the JSON escapes of whitespace, so that a value split over lines
// (or escaped inside a JSON string) reads as one.
var whitespace = regexp.MustCompile(`\s+|\\[nrt]`)

func compact(s string) string { return whitespace.ReplaceAllString(s, "") }

// Shapes of secret material whatever its value: a PEM block (as text, or base64 of it from the
// start, as zap writes a []byte), a JWT (service account tokens), a bearer credential.
var shapes = []struct {
	what string
	re   *regexp.Regexp
}{
	{"a PEM block", regexp.MustCompile(`-----BEGIN[A-Z0-9 ]*-----`)},
	{"a base64-encoded PEM block", regexp.MustCompile(`LS0tLS1CRUdJT`)},
	{"a JSON Web Token", regexp.MustCompile(`eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
	{"a bearer credential", regexp.MustCompile(`(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}`)},
}

// find returns every leak in text: each secret form or shape found, with its line.
func (s *leakSet) find(text string) []string {
	type piece struct{ what, form, p string }
	var pieces []piece
	for _, sec := range s.secrets {
		// In a fixed order, the most specific form first: one form can hold another (a PEM
		// block's text holds the base64 of its DER, which shares most of its pieces with the
		// base64url), and a finding names the same form every run.
		forms := slices.Collect(maps.Keys(sec.forms))
		slices.SortFunc(forms, func(a, b string) int {
			if d := formRank(a) - formRank(b); d != 0 {
				return d
			}
			return strings.Compare(a, b)
		})
		for _, form := range forms {
			for _, p := range s.pieces(sec.forms[form]) {
				pieces = append(pieces, piece{sec.what, form, p})
			}
		}
	}
	var out []string
	for i, line := range strings.Split(text, "\n") {
		flat := compact(line)
		for _, sh := range shapes {
			for _, hay := range []string{line, flat} {
				if loc := sh.re.FindStringIndex(hay); loc != nil {
					out = append(out, fmt.Sprintf("line %d: %s: %s", i+1, sh.what, excerpt(hay, loc[0], loc[1])))
					break
				}
			}
		}
		reported := map[string]bool{} // one finding per secret and line
		for _, p := range pieces {
			if reported[p.what] {
				continue
			}
			if j := strings.Index(flat, p.p); j >= 0 {
				reported[p.what] = true
				where := excerpt(flat, j, j+len(p.p))
				if k := strings.Index(line, p.p); k >= 0 { // readable as written when it can be
					where = excerpt(line, k, k+len(p.p))
				}
				out = append(out, fmt.Sprintf("line %d: %s (%s): %s", i+1, p.what, p.form, where))
			}
		}
	}
	return out
}

// formRank orders the forms of a key from the most specific; other forms come after, by name.
func formRank(form string) int {
	if i := slices.Index([]string{"base64 of DER", "base64url/DER", "hex of the DER", "base64 of PEM", "PEM text"}, form); i >= 0 {
		return i
	}
	return 100
}

// excerpt is the match with some context, for the failure message.
func excerpt(s string, from, to int) string {
	a, b := max(from-60, 0), min(to+60, len(s))
	return strings.TrimSpace(s[a:from] + ">>>" + s[from:to] + "<<<" + s[to:b])
}

// randomSecret is a value no program could print by chance.
func randomSecret(prefix string) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// TestLeakFinder: the finder sees a secret in every shape a logger could give it, names which
// secret it is, and stays quiet on what is public (a certificate's serial, its DER, names).
func TestLeakFinder(t *testing.T) {
	ca, err := tlscerts.NewCA(time.Now(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaks := newLeakSet()
	leaks.addPublic(ca.CertPEM)
	leaks.addPEM("the CA key", ca.KeyPEM)
	password := randomSecret("pw-")
	leaks.add("the env value DB_PASSWORD", password)

	var buf bytes.Buffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&buf), zapcore.DebugLevel))
	block, _ := pem.Decode(ca.KeyPEM)
	podJSON, _ := json.Marshal(map[string]any{"spec": map[string]any{"containers": []any{map[string]any{
		"env": []any{map[string]string{"name": "DB_PASSWORD", "value": password}},
	}}}})
	b64 := base64.StdEncoding.EncodeToString(ca.KeyPEM)
	for _, tc := range []struct {
		name  string
		field zap.Field
		want  string // a substring of the finding; empty: no finding
	}{
		{"the key as a string", zap.String("key", string(ca.KeyPEM)), "a PEM block"},
		{"the key as a []byte (base64 of the PEM)", zap.Binary("key", ca.KeyPEM), "a base64-encoded PEM block"},
		{"the key's DER", zap.Binary("der", block.Bytes), "the CA key (base64 of DER)"},
		{"part of the Secret's data", zap.String("data", b64[len(b64)/2:len(b64)/2+40]), "the CA key (base64 of PEM)"},
		{"a parsed key printed with %v", zap.String("key", fmt.Sprintf("%v", ca.Key)), "the CA key (private scalar, decimal)"},
		{"an object dump", zap.ByteString("object", podJSON), "the env value DB_PASSWORD (as written)"},
		{"a request's headers", zap.String("headers", "Authorization: Bearer "+randomSecret("")), "a bearer credential"},
		{"the CA certificate's DER", zap.Binary("der", ca.Cert.Raw), ""},
		{"the CA's serial and subject", zap.String("serial", ca.Cert.SerialNumber.Text(16)+" "+ca.Cert.Subject.CommonName), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			buf.Reset()
			log.Info("event", tc.field)
			found := leaks.find(buf.String())
			switch {
			case tc.want == "" && len(found) > 0:
				t.Errorf("found in public data:\n%s", strings.Join(found, "\n"))
			case tc.want != "" && !strings.Contains(strings.Join(found, "\n"), tc.want):
				t.Errorf("want a finding %q in %s, found:\n%s", tc.want, buf.String(), strings.Join(found, "\n"))
			}
		})
	}
}
