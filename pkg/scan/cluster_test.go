package scan

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/bulwark-k8s/bulwark/pkg/checks"
	"github.com/bulwark-k8s/bulwark/pkg/podspec"
)

// clusterResults are the objects of the report fixture as a cluster scan would give them: read
// from the context "prod", with uids, the Service (no pod template) not read at all, and the
// Pod exempt.
func clusterResults(t *testing.T) ([]Result, *Cluster) {
	t.Helper()
	docs, err := Read([]string{"report/manifests.yaml"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := Evaluate(docs, hostNetworkOnly(t, checks.Enforce))
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{Context: "prod", Server: "https://10.0.0.1:6443", Read: 9, Evaluated: 2, Exempt: 1, Owned: 6}
	var results []Result
	for _, r := range files {
		if r.Skipped {
			continue
		}
		r.Doc = c.Document(r.Doc.APIVersion, r.Doc.Kind)
		r.UID = "uid-" + r.Name
		if r.Doc.Kind == "Pod" {
			r.Namespace, r.Exempt = "kube-system", `namespace "kube-system" is exempt`
		}
		results = append(results, r)
	}
	return results, c
}

func TestClusterWritersGolden(t *testing.T) {
	t.Chdir(testdata)
	results, c := clusterResults(t)
	for _, f := range Formats {
		name := "report/cluster." + goldenExt(f.Name)
		t.Run(name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.Write(&b, Report{Results: results, Cluster: c, Version: "1.2.3"}); err != nil {
				t.Fatal(err)
			}
			if f.Name == "sarif" {
				b = *bytes.NewBuffer(onlyRule(t, b.Bytes(), "host-network"))
			}
			golden(t, name, b.String())
		})
	}
}

func TestClusterWhere(t *testing.T) {
	for _, tc := range []struct {
		c             Cluster
		source, where string
	}{
		{Cluster{Context: "prod", Server: "https://10.0.0.1:6443"}, "prod", `context "prod" (https://10.0.0.1:6443)`},
		{Cluster{Context: "prod", Server: "https://10.0.0.1:6443", Namespace: "shop"}, "prod", `namespace "shop" of context "prod" (https://10.0.0.1:6443)`},
		{Cluster{Server: "https://10.96.0.1:443"}, "https://10.96.0.1:443", "https://10.96.0.1:443"},
	} {
		if s, w := tc.c.Source(), tc.c.Where(); s != tc.source || w != tc.where {
			t.Errorf("%+v: Source %q Where %q, want %q %q", tc.c, s, w, tc.source, tc.where)
		}
	}
}

func TestClusterObjectURI(t *testing.T) {
	c := &Cluster{Server: "https://10.0.0.1:6443/"}
	for _, tc := range []struct {
		apiVersion, kind, ns, name, want string
	}{
		{"v1", "Pod", "shop", "web-1", "https://10.0.0.1:6443/api/v1/namespaces/shop/pods/web-1"},
		{"apps/v1", "Deployment", "shop", "web", "https://10.0.0.1:6443/apis/apps/v1/namespaces/shop/deployments/web"},
		{"batch/v1", "CronJob", "ops", "nightly", "https://10.0.0.1:6443/apis/batch/v1/namespaces/ops/cronjobs/nightly"},
		{"v1", "ReplicationController", "old", "rc", "https://10.0.0.1:6443/api/v1/namespaces/old/replicationcontrollers/rc"},
	} {
		r := Result{Doc: c.Document(tc.apiVersion, tc.kind), Namespace: tc.ns, Name: tc.name}
		if got := c.objectURI(r); got != tc.want {
			t.Errorf("%s %s: %q, want %q", tc.apiVersion, tc.kind, got, tc.want)
		}
	}
	// Every kind the audit reads is located at its resource.
	for _, k := range podspec.All() {
		r := Result{Doc: c.Document(k.GroupVersion().String(), k.Kind), Namespace: "ns", Name: "n"}
		if got := c.objectURI(r); !strings.HasSuffix(got, "/"+k.Version+"/namespaces/ns/"+k.Resource+"/n") {
			t.Errorf("%s: %q", k.GroupKind, got)
		}
	}
}

// TestClusterJSONOmitsNothingItPromises: the cluster object carries its counts even at zero.
func TestClusterJSONZeroCounts(t *testing.T) {
	var b bytes.Buffer
	f, _ := FormatNamed("json")
	if err := f.Write(&b, Report{Cluster: &Cluster{Context: "dev", Server: "https://127.0.0.1:6443"}, Version: "1.2.3"}); err != nil {
		t.Fatal(err)
	}
	var rep map[string]any
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rep["cluster"])
	if want := `{"context":"dev","evaluated":0,"exempt":0,"owned":0,"read":0,"server":"https://127.0.0.1:6443"}`; string(got) != want {
		t.Errorf("cluster %s, want %s", got, want)
	}
	if res, _ := json.Marshal(rep["results"]); string(res) != "[]" {
		t.Errorf("results %s, want []", res)
	}
}
