package roomversion

import (
	"slices"
	"testing"
)

func TestTable(t *testing.T) {
	if got := IDs(); !slices.Equal(got, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12"}) {
		t.Fatalf("IDs() = %v", got)
	}
	if _, ok := Lookup(Default); !ok {
		t.Fatalf("default version %s is not in the table", Default)
	}
	if _, ok := Lookup("13"); ok {
		t.Fatal("Lookup(13) found a version")
	}
	tests := []struct {
		id       string
		idFormat EventIDFormat
		res      StateRes
		check    func(v *Version) bool
		what     string
	}{
		{"1", EventIDInEvent, StateResV1, func(v *Version) bool { return v.AuthorizeRedactions && v.SpecialCaseAliases }, "redaction auth and aliases"},
		{"2", EventIDInEvent, StateResV2, func(v *Version) bool { return v.AuthorizeRedactions }, "redaction auth"},
		{"3", EventIDHashStd, StateResV2, func(v *Version) bool { return !v.AuthorizeRedactions && !v.EnforceKeyValidity }, "no redaction auth"},
		{"5", EventIDHashURL, StateResV2, func(v *Version) bool { return v.EnforceKeyValidity && v.SpecialCaseAliases }, "key validity"},
		{"6", EventIDHashURL, StateResV2, func(v *Version) bool { return v.StrictCanonicalJSON && !v.SpecialCaseAliases && !v.Knocking }, "strict JSON, no aliases"},
		{"7", EventIDHashURL, StateResV2, func(v *Version) bool { return v.Knocking && !v.RestrictedJoins }, "knocking"},
		{"8", EventIDHashURL, StateResV2, func(v *Version) bool { return v.RestrictedJoins && !v.RedactKeepsJoinAuthorisedVia }, "restricted joins"},
		{"9", EventIDHashURL, StateResV2, func(v *Version) bool { return v.RedactKeepsJoinAuthorisedVia && !v.KnockRestricted }, "keeps authoriser"},
		{"10", EventIDHashURL, StateResV2, func(v *Version) bool { return v.KnockRestricted && v.IntegerPowerLevels && !v.CreatorIsSender }, "knock_restricted"},
		{"11", EventIDHashURL, StateResV2, func(v *Version) bool { return v.CreatorIsSender && v.RedactsInContent && !v.RoomIDFromCreateEvent }, "MSC2174/2175/2176"},
		{"12", EventIDHashURL, StateResV21, func(v *Version) bool { return v.RoomIDFromCreateEvent && v.PrivilegedCreators }, "MSC4289/4291"},
	}
	for _, tc := range tests {
		v := MustLookup(tc.id)
		if v.EventIDFormat != tc.idFormat || v.StateRes != tc.res || !tc.check(v) {
			t.Errorf("v%s: format %d, state res %d, or flags (%s) wrong: %+v", tc.id, v.EventIDFormat, v.StateRes, tc.what, *v)
		}
	}
}

func TestMustLookupPanicsOnUnknown(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("MustLookup(99) did not panic")
		}
	}()
	MustLookup("99")
}
