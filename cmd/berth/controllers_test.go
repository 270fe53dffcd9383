package main

import (
	"strings"
	"testing"
)

func TestEnabledControllers(t *testing.T) {
	all := strings.Join(controllerNames(), ",")
	cases := []struct {
		name, spec, want, err string
	}{
		{name: "all", spec: "*", want: all},
		{name: "none", spec: "-*", want: ""},
		{name: "all but one", spec: "*,-serviceaccount", want: strings.Replace(all, "serviceaccount,", "", 1)},
		{name: "only one", spec: "-*,namespace", want: "namespace"},
		{name: "unknown", spec: "*,-nope", err: `unknown controller "nope"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := enabledControllers(strings.Split(tc.spec, ","))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			var names []string
			for _, c := range got {
				names = append(names, c.name)
			}
			if strings.Join(names, ",") != tc.want {
				t.Fatalf("enabled %v, want %s", names, tc.want)
			}
		})
	}
}
