package https

import (
	"strings"
	"testing"
)

func TestParseServerName(t *testing.T) {
	tests := []struct {
		in         string
		host, port string
		ip         bool
		bad        bool
	}{
		{in: "matrix.org", host: "matrix.org"},
		{in: "matrix.org:8888", host: "matrix.org", port: "8888"},
		{in: "Matrix-1.example.ORG", host: "Matrix-1.example.ORG"},
		{in: "localhost", host: "localhost"},
		{in: "1.2.3.4", host: "1.2.3.4", ip: true},
		{in: "1.2.3.4:1234", host: "1.2.3.4", port: "1234", ip: true},
		{in: "[1234:5678::abcd]", host: "1234:5678::abcd", ip: true},
		{in: "[1234:5678::abcd]:5678", host: "1234:5678::abcd", port: "5678", ip: true},
		{in: "example.org:08448", host: "example.org", port: "8448"},
		{in: "", bad: true},
		{in: ":8448", bad: true},
		{in: "example.org:", bad: true},
		{in: "example.org:0", bad: true},
		{in: "example.org:65536", bad: true},
		{in: "example.org:123456", bad: true},
		{in: "example.org:-1", bad: true},
		{in: "example.org:http", bad: true},
		{in: "exa_mple.org", bad: true},
		{in: "example.org/path", bad: true},
		{in: "user@example.org", bad: true},
		{in: "256.1.1.1", bad: true},
		{in: "1.2.3", bad: true},
		{in: "::1", bad: true},
		{in: "[::1", bad: true},
		{in: "[1.2.3.4]", bad: true},
		{in: "[fe80::1%25eth0]", bad: true},
		{in: "[example.org]", bad: true},
		{in: strings.Repeat("a", 256), bad: true},
		{in: strings.Repeat("a", 255), host: strings.Repeat("a", 255)},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseServerName(tt.in)
			if tt.bad {
				if err == nil {
					t.Fatalf("parseServerName(%q) = %+v, want an error", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseServerName(%q): %v", tt.in, err)
			}
			if got.host != tt.host || got.port != tt.port || got.isIP() != tt.ip {
				t.Fatalf("parseServerName(%q) = host %q port %q ip %v; want %q %q %v", tt.in, got.host, got.port, got.isIP(), tt.host, tt.port, tt.ip)
			}
		})
	}
}
