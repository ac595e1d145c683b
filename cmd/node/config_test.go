package main

import (
	"flag"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parseServe parses serve's settings from args, env and, if file is not
// empty, a config file passed with --config.
func parseServe(t *testing.T, args []string, env map[string]string, file string) (config, error) {
	t.Helper()
	if file != "" {
		path := filepath.Join(t.TempDir(), "hearth.yaml")
		if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
			t.Fatal(err)
		}
		if env["HEARTH_CONFIG"] == "@" {
			env["HEARTH_CONFIG"] = path
		} else {
			args = append([]string{"--config", path}, args...)
		}
	}
	var c config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addSettings(fs, &c, serveSettings...)
	err := parseConfig(fs, args, func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	return c, err
}

func TestConfigPrecedence(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want config
	}{
		{
			name: "defaults",
			want: config{Data: "data", ServerName: "localhost:8448", ClientListen: "127.0.0.1:8008",
				FederationListen: "127.0.0.1:8448", Registration: "token", RateLimit: 50, LogLevel: "info"},
		},
		{
			name: "file beats default",
			file: "server_name: file.example\nrate_limit: 7\nself_certifying: true\nregistration: open\n",
			want: config{ServerName: "file.example", RateLimit: 7, SelfCertifying: true, Registration: "open"},
		},
		{
			name: "env beats file",
			env:  map[string]string{"HEARTH_SERVER_NAME": "env.example", "HEARTH_RATE_LIMIT": "8", "HEARTH_SELF_CERTIFYING": "false"},
			file: "server_name: file.example\nrate_limit: 7\nself_certifying: true\nregistration: open\n",
			want: config{ServerName: "env.example", RateLimit: 8, SelfCertifying: false, Registration: "open"},
		},
		{
			name: "flag beats env and file",
			args: []string{"--server-name", "flag.example", "--rate-limit=9", "--self-certifying"},
			env:  map[string]string{"HEARTH_SERVER_NAME": "env.example", "HEARTH_RATE_LIMIT": "8", "HEARTH_SELF_CERTIFYING": "false"},
			file: "server_name: file.example\nrate_limit: 7\nregistration: open\n",
			want: config{ServerName: "flag.example", RateLimit: 9, SelfCertifying: true, Registration: "open"},
		},
		{
			name: "flag beats file without env",
			args: []string{"--registration", "disabled"},
			file: "registration: open\nrate_limit: 0\n",
			want: config{ServerName: "localhost:8448", Registration: "disabled", RateLimit: 0},
		},
		{
			name: "env beats default without file",
			env:  map[string]string{"HEARTH_DATA": "/srv/hearth", "HEARTH_FEDERATION_ALLOW_PRIVATE": "1"},
			want: config{Data: "/srv/hearth", ServerName: "localhost:8448", FederationAllowPrivate: true, RateLimit: 50},
		},
		{
			name: "pprof is off by default, on from the environment",
			env:  map[string]string{"HEARTH_PPROF": "127.0.0.1:6060"},
			want: config{ServerName: "localhost:8448", RateLimit: 50, Pprof: "127.0.0.1:6060"},
		},
		{
			name: "pprof flag beats file",
			args: []string{"--pprof", "127.0.0.1:0"},
			file: "pprof: 127.0.0.1:6061\n",
			want: config{ServerName: "localhost:8448", RateLimit: 50, Pprof: "127.0.0.1:0"},
		},
		{
			name: "config file named by HEARTH_CONFIG",
			env:  map[string]string{"HEARTH_CONFIG": "@"},
			file: "server_name: viaenv.example\n",
			want: config{ServerName: "viaenv.example", RateLimit: 50},
		},
		{
			name: "empty env value is a value",
			env:  map[string]string{"HEARTH_REGISTRATION_SHARED_SECRET": ""},
			file: "registration_shared_secret: fromfile\n",
			want: config{ServerName: "localhost:8448", RegistrationSharedSecret: "", RateLimit: 50},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env == nil {
				tt.env = map[string]string{}
			}
			got, err := parseServe(t, tt.args, tt.env, tt.file)
			if err != nil {
				t.Fatal(err)
			}
			check := func(name string, got, want any, wanted bool) {
				if wanted && got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			w := tt.want
			check("data", got.Data, w.Data, w.Data != "")
			check("server-name", got.ServerName, w.ServerName, w.ServerName != "")
			check("client-listen", got.ClientListen, w.ClientListen, w.ClientListen != "")
			check("federation-listen", got.FederationListen, w.FederationListen, w.FederationListen != "")
			check("registration", got.Registration, w.Registration, w.Registration != "")
			check("log-level", got.LogLevel, w.LogLevel, w.LogLevel != "")
			check("registration-shared-secret", got.RegistrationSharedSecret, w.RegistrationSharedSecret, true)
			check("rate-limit", got.RateLimit, w.RateLimit, true)
			check("self-certifying", got.SelfCertifying, w.SelfCertifying, true)
			check("federation-allow-private", got.FederationAllowPrivate, w.FederationAllowPrivate, true)
			check("pprof", got.Pprof, w.Pprof, true)
		})
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		file string
		want string
	}{
		{"unknown file key", nil, nil, "server_nmae: x\n", "unknown keys: server_nmae"},
		{"dashed file key", nil, nil, "server-name: x\n", "unknown keys: server-name"},
		{"config key in file", nil, nil, "config: other.yaml\n", "unknown keys: config"},
		{"list value", nil, nil, "server_name: [a, b]\n", "single value"},
		{"empty value", nil, nil, "server_name:\n", "no value"},
		{"bad YAML", nil, nil, "server_name: [\n", "config file"},
		{"bad file number", nil, nil, "rate_limit: lots\n", "config file key rate_limit"},
		{"bad env number", nil, map[string]string{"HEARTH_RATE_LIMIT": "lots"}, "", "HEARTH_RATE_LIMIT"},
		{"bad env bool", nil, map[string]string{"HEARTH_SELF_CERTIFYING": "maybe"}, "", "HEARTH_SELF_CERTIFYING"},
		{"missing file", []string{"--config", "/nonexistent/hearth.yaml"}, nil, "", "no such file"},
		{"unknown flag", []string{"--serve-name", "x"}, nil, "", "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env == nil {
				tt.env = map[string]string{}
			}
			_, err := parseServe(t, tt.args, tt.env, tt.file)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	good := config{Data: "d", ServerName: "s", Registration: "token", LogLevel: "info"}
	tests := []struct {
		name   string
		change func(*config)
		ok     bool
	}{
		{"good", func(*config) {}, true},
		{"debug", func(c *config) { c.LogLevel = "debug" }, true},
		{"bad registration", func(c *config) { c.Registration = "maybe" }, false},
		{"negative rate", func(c *config) { c.RateLimit = -1 }, false},
		{"cert without key", func(c *config) { c.TLSCert = "c.pem" }, false},
		{"key without cert", func(c *config) { c.TLSKey = "k.pem" }, false},
		{"empty server name", func(c *config) { c.ServerName = "" }, false},
		{"empty data", func(c *config) { c.Data = "" }, false},
		{"bad log level", func(c *config) { c.LogLevel = "loud" }, false},
	}
	for _, tt := range tests {
		c := good
		tt.change(&c)
		if err := c.validate(); (err == nil) != tt.ok {
			t.Errorf("%s: validate() = %v, want ok=%v", tt.name, err, tt.ok)
		}
	}
}

func TestNames(t *testing.T) {
	tests := []struct{ flag, env, key string }{
		{"server-name", "HEARTH_SERVER_NAME", "server_name"},
		{"registration-shared-secret", "HEARTH_REGISTRATION_SHARED_SECRET", "registration_shared_secret"},
		{"data", "HEARTH_DATA", "data"},
	}
	for _, tt := range tests {
		if got := envName(tt.flag); got != tt.env {
			t.Errorf("envName(%q) = %q, want %q", tt.flag, got, tt.env)
		}
		if got := fileKey(tt.flag); got != tt.key {
			t.Errorf("fileKey(%q) = %q, want %q", tt.flag, got, tt.key)
		}
	}
}

func TestDialable(t *testing.T) {
	tests := []struct{ listen, want string }{
		{"127.0.0.1:8008", "127.0.0.1:8008"},
		{"0.0.0.0:8008", "127.0.0.1:8008"},
		{"[::]:8008", "127.0.0.1:8008"},
		{":8008", "127.0.0.1:8008"},
		{"example.org:80", "example.org:80"},
	}
	for _, tt := range tests {
		if got := dialable(tt.listen); got != tt.want {
			t.Errorf("dialable(%q) = %q, want %q", tt.listen, got, tt.want)
		}
	}
}

func TestCertHosts(t *testing.T) {
	got := strings.Join(certHosts("example.org:8448", "0.0.0.0:8448"), ",")
	if want := "example.org,localhost,127.0.0.1,::1"; got != want {
		t.Errorf("certHosts = %s, want %s", got, want)
	}
	got = strings.Join(certHosts("127.0.0.1:9000", "[::1]:9000"), ",")
	if want := "127.0.0.1,::1,localhost"; got != want {
		t.Errorf("certHosts = %s, want %s", got, want)
	}
}

func TestPprofHandler(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: pprofHandler()}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/profile?seconds=1"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(body) == 0 {
			t.Errorf("GET %s: %d, %d bytes", path, resp.StatusCode, len(body))
		}
	}
}
