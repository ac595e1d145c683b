package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"hearth/core/homeserver"
)

// serveSettings are the settings of hearth serve: all but client-url, which
// only the admin commands use.
var serveSettings = []string{"config", "data", "server-name", "client-listen", "federation-listen",
	"registration", "registration-shared-secret", "rate-limit", "federation-allow-private",
	"federation-tls-skip-verify", "self-certifying", "tls-cert", "tls-key", "log-level", "pprof"}

// envPrefix starts the name of every environment variable hearth reads.
const envPrefix = "HEARTH_"

// config holds the node settings: the flags of `hearth serve`, which the admin
// commands share to find the running node.
type config struct {
	ConfigFile               string
	Data                     string
	ServerName               string
	ClientListen             string
	FederationListen         string
	Registration             string
	RegistrationSharedSecret string
	RateLimit                float64
	FederationAllowPrivate   bool
	FederationTLSSkipVerify  bool
	SelfCertifying           bool
	TLSCert                  string
	TLSKey                   string
	LogLevel                 string
	Pprof                    string
	ClientURL                string
}

// setting describes one node setting: its flag name and help text. Its
// environment variable and config file key derive from the flag name.
type setting struct {
	name  string
	usage string
	bind  func(fs *flag.FlagSet, c *config, name, usage string)
}

func stringSetting(name, def, usage string, field func(*config) *string) setting {
	return setting{name, usage, func(fs *flag.FlagSet, c *config, name, usage string) {
		fs.StringVar(field(c), name, def, usage)
	}}
}

func boolSetting(name, usage string, field func(*config) *bool) setting {
	return setting{name, usage, func(fs *flag.FlagSet, c *config, name, usage string) {
		fs.BoolVar(field(c), name, false, usage)
	}}
}

func floatSetting(name string, def float64, usage string, field func(*config) *float64) setting {
	return setting{name, usage, func(fs *flag.FlagSet, c *config, name, usage string) {
		fs.Float64Var(field(c), name, def, usage)
	}}
}

// Default values of the node settings.
const (
	defaultData             = "data"
	defaultServerName       = "localhost:8448"
	defaultClientListen     = "127.0.0.1:8008"
	defaultFederationListen = "127.0.0.1:8448"
	defaultRegistration     = "token"
	defaultRateLimit        = 50
	defaultLogLevel         = "info"
)

// settings lists every node setting in the order of the help text. The
// "config" setting is special: it names the file and is never read from it.
var settings = []setting{
	stringSetting("config", "", "YAML config `FILE` whose keys are these flag names with _ for -",
		func(c *config) *string { return &c.ConfigFile }),
	stringSetting("data", defaultData, "data directory `DIR`: signing key, TLS certificate, shared secret, database (db/)",
		func(c *config) *string { return &c.Data }),
	stringSetting("server-name", defaultServerName, "the server `NAME`, the domain part of user IDs (host or host:port)",
		func(c *config) *string { return &c.ServerName }),
	stringSetting("client-listen", defaultClientListen, "`ADDR` (host:port) of the client API listener, plain HTTP",
		func(c *config) *string { return &c.ClientListen }),
	stringSetting("federation-listen", defaultFederationListen, "`ADDR` (host:port) of the federation listener, HTTPS",
		func(c *config) *string { return &c.FederationListen }),
	stringSetting("registration", defaultRegistration, "who may register (`MODE`): open, token (needs a registration token) or disabled",
		func(c *config) *string { return &c.Registration }),
	stringSetting("registration-shared-secret", "", "`SECRET` for shared-secret registration and the admin API (default: generated into the data directory)",
		func(c *config) *string { return &c.RegistrationSharedSecret }),
	floatSetting("rate-limit", defaultRateLimit, "client API requests per second (`N`) per client, bursts of twice that; 0 turns limiting off",
		func(c *config) *float64 { return &c.RateLimit }),
	boolSetting("federation-allow-private", "allow federation with servers at private and loopback addresses",
		func(c *config) *bool { return &c.FederationAllowPrivate }),
	boolSetting("federation-tls-skip-verify", "do not verify other servers' TLS certificates (tests only)",
		func(c *config) *bool { return &c.FederationTLSSkipVerify }),
	boolSetting("self-certifying", "self-certifying server names (peer-to-peer federation)",
		func(c *config) *bool { return &c.SelfCertifying }),
	stringSetting("tls-cert", "", "PEM certificate `FILE` for the federation listener (default: self-signed, generated into the data directory)",
		func(c *config) *string { return &c.TLSCert }),
	stringSetting("tls-key", "", "PEM private key `FILE` matching --tls-cert",
		func(c *config) *string { return &c.TLSKey }),
	stringSetting("log-level", defaultLogLevel, "log `LEVEL`: debug, info, warn or error",
		func(c *config) *string { return &c.LogLevel }),
	stringSetting("pprof", "", "`ADDR` (host:port) to serve Go's net/http/pprof profiles on (default: off; keep it on loopback)",
		func(c *config) *string { return &c.Pprof }),
	stringSetting("client-url", "", "`URL` of the running node's client listener (default: read from the data directory, else from --client-listen)",
		func(c *config) *string { return &c.ClientURL }),
}

// envName returns the environment variable of a flag: HEARTH_ and the flag
// name in upper case with _ for -.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// fileKey returns the config file key of a flag: its name with _ for -.
func fileKey(flagName string) string {
	return strings.ReplaceAll(flagName, "-", "_")
}

// addSettings registers the named node settings on fs, bound to c.
func addSettings(fs *flag.FlagSet, c *config, names ...string) {
	for _, s := range settings {
		if contains(names, s.name) {
			s.bind(fs, c, s.name, s.usage)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func isSetting(name string) bool {
	for _, s := range settings {
		if s.name == name {
			return true
		}
	}
	return false
}

// parseConfig parses args into fs, then fills every node setting of fs that
// no flag set from the environment (lookupEnv) and then from the config file:
// flag > environment > file > default.
func parseConfig(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	if err := fs.Parse(args); err != nil {
		return flagError{err}
	}
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })

	fill := func(name, value, source string) error {
		if err := fs.Set(name, value); err != nil {
			return fmt.Errorf("%s: invalid value %q for %s: %v", source, value, name, err)
		}
		return nil
	}
	if f := fs.Lookup("config"); f != nil && !explicit["config"] {
		if v, ok := lookupEnv(envName("config")); ok {
			if err := fill("config", v, envName("config")); err != nil {
				return err
			}
		}
	}
	var file map[string]string
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		var err error
		if file, err = readConfigFile(f.Value.String()); err != nil {
			return err
		}
	}
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if err != nil || explicit[f.Name] || f.Name == "config" || !isSetting(f.Name) {
			return
		}
		if v, ok := lookupEnv(envName(f.Name)); ok {
			err = fill(f.Name, v, "environment variable "+envName(f.Name))
		} else if v, ok := file[fileKey(f.Name)]; ok {
			err = fill(f.Name, v, "config file key "+fileKey(f.Name))
		}
	})
	return err
}

// readConfigFile reads a YAML config file into setting values keyed by file
// key. Unknown keys and non-scalar values are errors.
func readConfigFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	out := make(map[string]string, len(raw))
	var unknown []string
	for k, v := range raw {
		name := strings.ReplaceAll(k, "_", "-")
		if !isSetting(name) || name == "config" || k != fileKey(name) {
			unknown = append(unknown, k)
			continue
		}
		switch v := v.(type) {
		case string, bool, int, int64, uint64, float64:
			out[k] = fmt.Sprint(v)
		case nil:
			return nil, fmt.Errorf("config file %s: key %s has no value", path, k)
		default:
			return nil, fmt.Errorf("config file %s: key %s must be a single value, not %T", path, k, v)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("config file %s: unknown keys: %s", path, strings.Join(unknown, ", "))
	}
	return out, nil
}

// validate checks the values that flag parsing cannot.
func (c *config) validate() error {
	if _, err := homeserver.ParseRegistration(c.Registration); err != nil {
		return err
	}
	if c.RateLimit < 0 {
		return errors.New("rate-limit must be zero or more")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("tls-cert and tls-key go together")
	}
	if c.ServerName == "" {
		return errors.New("server-name must not be empty")
	}
	if c.Data == "" {
		return errors.New("data must not be empty")
	}
	_, err := c.logLevel()
	return err
}

// logLevel returns the slog level named by LogLevel.
func (c *config) logLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return 0, fmt.Errorf("log-level %q is not debug, info, warn or error", c.LogLevel)
	}
	return l, nil
}

// printFlags writes fs's flags: the command's own first, then the node
// settings in the order of the settings table, each with its environment
// variable and config file key.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var flags []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) { flags = append(flags, f) })
	order := func(name string) int {
		for i, s := range settings {
			if s.name == name {
				return i + 1
			}
		}
		return 0
	}
	sort.SliceStable(flags, func(i, j int) bool { return order(flags[i].Name) < order(flags[j].Name) })
	for _, f := range flags {
		name, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		fmt.Fprintln(w, line)
		fmt.Fprintf(w, "      %s", usage)
		switch f.DefValue {
		case "", "false", "0", "0s":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
		if isSetting(f.Name) {
			fmt.Fprintf(w, "      env %s", envName(f.Name))
			if f.Name != "config" {
				fmt.Fprintf(w, ", config key %s", fileKey(f.Name))
			}
			fmt.Fprintln(w)
		}
	}
}
