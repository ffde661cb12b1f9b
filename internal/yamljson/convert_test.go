package yamljson

import (
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestYAML11Booleans(t *testing.T) {
	const doc = `plain: [y, Y, yes, Yes, YES, on, On, ON, n, N, no, No, NO, off, Off, OFF, true, False]
quoted: ['yes', "no", !!str on]
other: [yEs, oN, yess, 1, null]
yes: {on: off}
anchored: &a yes
alias: *a
`
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(doc), &root); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{}, `{"plain":["y","Y","yes","Yes","YES","on","On","ON","n","N","no","No","NO","off","Off","OFF",true,false],` +
			`"quoted":["yes","no","on"],"other":["yEs","oN","yess",1,null],"yes":{"on":"off"},"anchored":"yes","alias":"yes"}`},
		{Options{YAML11Booleans: true}, `{"plain":[true,true,true,true,true,true,true,true,false,false,false,false,false,false,false,false,true,false],` +
			`"quoted":["yes","no","on"],"other":["yEs","oN","yess",1,null],"yes":{"on":false},"anchored":true,"alias":true}`},
	} {
		got, err := tc.opts.ToJSON(&root)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("%+v:\n got %s\nwant %s", tc.opts, got, tc.want)
		}
	}
}
