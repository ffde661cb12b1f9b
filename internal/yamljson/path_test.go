package yamljson

import (
	"reflect"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		path string
		want []pathSeg
	}{
		{"a.b[2].c", []pathSeg{{name: "a", index: -1}, {name: "b", index: -1}, {index: 2}, {name: "c", index: -1}}},
		{"m[k.x/y].z", []pathSeg{{name: "m", index: -1}, {name: "k.x/y", index: -1, bracket: true}, {name: "z", index: -1}}},
		{"m['q']", []pathSeg{{name: "m", index: -1}, {name: "q", index: -1, bracket: true}}},
		{"m[-1]", []pathSeg{{name: "m", index: -1}, {name: "-1", index: -1, bracket: true}}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := parsePath(tt.path); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePath(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}
