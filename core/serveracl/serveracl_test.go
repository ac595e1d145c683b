package serveracl

import (
	"encoding/json"
	"testing"
)

func TestAllowed(t *testing.T) {
	tests := []struct {
		name    string
		content string
		server  string
		want    bool
	}{
		{"no acl event", "", "evil.com", true},
		{"null content", "null", "evil.com", true},
		{"allow star", `{"allow":["*"]}`, "good.org", true},
		{"empty object denies all", `{}`, "good.org", false},
		{"missing allow denies", `{"deny":["evil.com"]}`, "good.org", false},
		{"deny beats allow", `{"allow":["*"],"deny":["evil.com"]}`, "evil.com", false},
		{"deny ignores port", `{"allow":["*"],"deny":["evil.com"]}`, "evil.com:8448", false},
		{"allow ignores port", `{"allow":["good.org"]}`, "good.org:1234", true},
		{"deny glob subdomain", `{"allow":["*"],"deny":["*.evil.com"]}`, "a.b.evil.com", false},
		{"deny glob not apex", `{"allow":["*"],"deny":["*.evil.com"]}`, "evil.com", true},
		{"question mark one char", `{"allow":["ser?er.org"]}`, "server.org", true},
		{"question mark not zero chars", `{"allow":["ser?er.org"]}`, "serer.org", false},
		{"case insensitive glob", `{"allow":["*.Example.ORG"]}`, "Matrix.example.org", true},
		{"case insensitive deny", `{"allow":["*"],"deny":["EVIL.com"]}`, "evil.COM", false},
		{"not in allow", `{"allow":["good.org"]}`, "other.org", false},
		{"ipv4 literal denied", `{"allow":["*"],"allow_ip_literals":false}`, "1.2.3.4:8448", false},
		{"ipv6 literal denied", `{"allow":["*"],"allow_ip_literals":false}`, "[::1]:8448", false},
		{"ipv6 literal without port denied", `{"allow":["*"],"allow_ip_literals":false}`, "[2001:db8::1]", false},
		{"ip literal allowed by default", `{"allow":["*"]}`, "1.2.3.4", true},
		{"ip literal allowed explicitly", `{"allow":["*"],"allow_ip_literals":true}`, "127.0.0.1:8448", true},
		{"non-bool allow_ip_literals means true", `{"allow":["*"],"allow_ip_literals":"no"}`, "1.2.3.4", true},
		{"dns name not an ip literal", `{"allow":["*"],"allow_ip_literals":false}`, "1.2.3.4.example.org", true},
		{"ip glob", `{"allow":["127.0.0.*"]}`, "127.0.0.1:9000", true},
		{"ipv6 deny glob", `{"allow":["*"],"deny":["[::1]"]}`, "[::1]:8448", false},
		{"non-string entries ignored", `{"allow":[1,null,"good.org"]}`, "good.org", true},
		{"allow not a list", `{"allow":"*"}`, "good.org", false},
		{"multiple stars", `{"allow":["*a*b*"]}`, "xxaxxbxx", true},
		{"multiple stars miss", `{"allow":["*a*b*"]}`, "xxbxxaxx", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var content json.RawMessage
			if tt.content != "" {
				content = json.RawMessage(tt.content)
			}
			if got := Allowed(content, tt.server); got != tt.want {
				t.Errorf("Allowed(%s, %q) = %v, want %v", tt.content, tt.server, got, tt.want)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	tests := []struct {
		glob, s string
		want    bool
	}{
		{"", "", true},
		{"*", "", true},
		{"", "a", false},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"**", "x", true},
		{"*.org", "matrix.org", true},
		{"*.org", "matrix.org.evil", false},
	}
	for _, tt := range tests {
		if got := Match(tt.glob, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.glob, tt.s, got, tt.want)
		}
	}
}

func TestHost(t *testing.T) {
	for in, want := range map[string]string{
		"example.org":      "example.org",
		"example.org:8448": "example.org",
		"[::1]":            "[::1]",
		"[::1]:8448":       "[::1]",
		"1.2.3.4:80":       "1.2.3.4",
	} {
		if got := Host(in); got != want {
			t.Errorf("Host(%q) = %q, want %q", in, got, want)
		}
	}
}

func BenchmarkAllowed(b *testing.B) {
	acl := Parse(json.RawMessage(`{"allow":["*"],"deny":["*.evil.com","bad.org","*.spam.*"],"allow_ip_literals":false}`))
	for b.Loop() {
		acl.Allowed("matrix.example.org:8448")
	}
}
