package yamljson

import (
	"bytes"
	"encoding/json"
	"testing"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"
)

// kubectl reads manifests with sigs.k8s.io/yaml (go-yaml v2, YAML 1.1). With the options
// pkg/scan uses, ToJSON must give the same JSON for every scalar spelling and structure below,
// and fail where kubectl fails; kubectlDiffers lists the documents where Bulwark deliberately
// reads differently.
var kubectlOptions = Options{YAML11Booleans: true, KubectlKeys: true}

var kubectlDiffers = map[string]string{
	// kubectl apply validates strictly by default (--validate=strict): the apiserver rejects a
	// duplicate field, so Bulwark reports it too rather than judge one of the two values.
	"a: 1\na: 2\n": "duplicate key",
	// go-yaml v2 cannot use an integer beyond int64 as a key; Bulwark reads it as its digits.
	"12345678901234567890: a\n": "uint64 key",
}

func TestKubectlParity(t *testing.T) {
	var docs []string
	for _, s := range []string{
		"y", "Yes", "ON", "off", "N", "true", "True", "TRUE", "tRue", "yEs",
		"0777", "010", "08", "0o17", "0x1F", "0b101", "0b2", "+12", "-0", "1_000", "685_230.15", "1:20", "190:20:30.15",
		".5", "-.5", "+.5", "0.", "1.", "1e3", "1e", "1.0", "6.8523015e+5", "12345678901234567890", "0xFFFFFFFFFFFFFFFF",
		"~", "Null", "NULL", "null", "", "2001-12-14", "2001-12-14t21:59:43.10-05:00", ".inf", "-.Inf", ".NaN",
		"=", "<<", "100Mi", "500m", "'1'", `"0x10"`, "!!str 1", "!!int '3'", "!!float 3", "!!bool yes", "!!binary aGVsbG8=", "!!binary '%%'",
	} {
		docs = append(docs, "a: "+s+"\n")
	}
	docs = append(docs,
		"yes: {on: off}\n", "1: a\n", "1.5: a\n", "1e3: a\n", "0x10: a\n", "010: a\n", "true: a\n", "-1: a\n", "null: a\n", "~: a\n",
		"12345678901234567890: a\n", "[a]: b\n",
		"base: &b {a: 1, b: 2}\nm:\n  <<: *b\n  b: 3\n",
		"a: [1, 2.5, x, yes, ~]\n", "a: |\n  x\n  y\n", "a: >-\n  x\n  y\n", "a: 1\na: 2\n",
		"spec:\n  hostNetwork: yes\n  containers:\n  - name: c\n    securityContext: {privileged: On}\n",
	)
	for _, doc := range docs {
		want, kubectlErr := sigsyaml.YAMLToJSON([]byte(doc))
		var root yaml.Node
		err := yaml.Unmarshal([]byte(doc), &root)
		var got []byte
		if err == nil {
			got, err = kubectlOptions.ToJSON(&root)
		}
		same := (kubectlErr == nil) == (err == nil) && (err != nil || jsonEqual(t, want, got))
		if why, ok := kubectlDiffers[doc]; ok {
			if same {
				t.Errorf("%q: listed as reading differently from kubectl (%s), but reads the same", doc, why)
			}
			continue
		}
		if !same {
			t.Errorf("%q:\n kubectl %s (error %v)\n bulwark %s (error %v)", doc, want, kubectlErr, got, err)
		}
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var av, bv any
	if err := json.Unmarshal(a, &av); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &bv); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	ab, _ := json.Marshal(av)
	bb, _ := json.Marshal(bv)
	return bytes.Equal(ab, bb)
}
