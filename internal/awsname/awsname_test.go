package awsname

import (
	"strings"
	"testing"
)

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"

func TestARN(t *testing.T) {
	a, ok := ParseARN(arn)
	if !ok || a.Region != "us-east-1" || a.Resource != "prod/db-AbCdEf" || a.String() != arn {
		t.Fatalf("ParseARN = %+v, %v", a, ok)
	}
	for _, bad := range []string{"", "prod/db", "arn:aws:s3:::b", "arn:aws:secretsmanager:US:1:secret:x", "arn:aws:secretsmanager:us-east-1:1:key:x"} {
		if _, ok := ParseARN(bad); ok {
			t.Errorf("ParseARN(%q) accepted", bad)
		}
	}
	if NameOf(arn) != "prod/db" || NameOf("prod/db") != "prod/db" || NameOf(strings.TrimSuffix(arn, "-AbCdEf")) != "prod/db" {
		t.Error("NameOf")
	}
}

func TestSameSecret(t *testing.T) {
	partial := strings.TrimSuffix(arn, "-AbCdEf")
	for _, tc := range []struct {
		id, name, arn string
		want          bool
	}{
		{"prod/db", "prod/db", arn, true},
		{arn, "prod/db", arn, true},
		{partial, "prod/db", arn, true},
		{"prod/db", "", arn, true}, // only an ARN: the name inside it
		{"prod/db", "", "", true},
		{"prod/other", "prod/db", arn, false},
		{partial + "x", "prod/db", arn, false},
	} {
		if got := SameSecret(tc.id, tc.name, tc.arn); got != tc.want {
			t.Errorf("SameSecret(%q, %q, %q) = %v", tc.id, tc.name, tc.arn, got)
		}
	}
	if !ARNNames(arn, "prod/db") || ARNNames(arn, "prod/other") || !ARNNames("", "x") {
		t.Error("ARNNames")
	}
}

func TestCheck(t *testing.T) {
	for _, r := range []string{"us-east-1", "us-gov-west-1", "eu-isoe-west-1", "a"} {
		if err := CheckRegion(r); err != nil {
			t.Errorf("CheckRegion(%q): %v", r, err)
		}
	}
	for _, r := range []string{"", "US-EAST-1", "-a", "a-", "a--b", strings.Repeat("a", 33), "us east"} {
		if err := CheckRegion(r); err == nil {
			t.Errorf("CheckRegion(%q) accepted", r)
		}
	}
	if err := CheckID("a:b"); err == nil {
		t.Error("CheckID accepted a colon outside an ARN")
	}
	if err := CheckID(arn); err != nil {
		t.Error(err)
	}
	if err := CheckID(""); err == nil {
		t.Error("CheckID accepted empty")
	}
}

func TestCheckVersion(t *testing.T) {
	for _, ok := range [][2]string{{"", ""}, {"AWSPENDING", ""}, {"", strings.Repeat("v", 64)}, {strings.Repeat("s", 256), "x"}} {
		if err := CheckVersion(ok[0], ok[1]); err != nil {
			t.Errorf("CheckVersion(%q, %q): %v", ok[0], ok[1], err)
		}
	}
	for _, bad := range [][2]string{{strings.Repeat("s", 257), ""}, {"a b", ""}, {"a\x00", ""}, {"\xff", ""},
		{"", strings.Repeat("v", 65)}, {"", "v\n"}, {"", "\x7f"}} {
		if err := CheckVersion(bad[0], bad[1]); err == nil {
			t.Errorf("CheckVersion(%q, %q) accepted", bad[0], bad[1])
		}
	}
}
