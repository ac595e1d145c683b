package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"hearth/core/homeserver"
)

// adminTimeout bounds one admin request to the node.
const adminTimeout = 30 * time.Second

// adminSettings are the node settings the admin commands read to find the
// node and authenticate to it.
var adminSettings = []string{"config", "data", "client-listen", "client-url", "registration-shared-secret"}

func adminCommand(ctx context.Context, args []string, e env) error {
	if len(args) >= 2 {
		switch args[0] + " " + args[1] {
		case "user create":
			return adminUserCreate(ctx, args[2:], e)
		case "token create":
			return adminTokenCreate(ctx, args[2:], e)
		}
	}
	fmt.Fprintf(e.stderr, "hearth admin: want \"user create\" or \"token create\", got %q\n\n%s", args, usageText)
	return errUsage
}

func adminUserCreate(ctx context.Context, args []string, e env) error {
	var c config
	var user, password string
	var admin bool
	fs := newFlagSet("admin user create", "hearth admin user create --user NAME [--password PASSWORD] [--admin] [flags]", false, e)
	fs.StringVar(&user, "user", "", "localpart (or full user ID) of the new user")
	fs.StringVar(&password, "password", "", "password of the new user (default: read a line from standard input)")
	fs.BoolVar(&admin, "admin", false, "make the user a server administrator")
	addSettings(fs, &c, adminSettings...)
	if helped, err := parseFlags(fs, args, e); helped || err != nil {
		return err
	}
	if user == "" {
		return errors.New("admin user create: --user is required")
	}
	if strings.HasPrefix(user, "@") {
		local, _, ok := strings.Cut(user[1:], ":")
		if !ok {
			return fmt.Errorf("admin user create: %q is not @localpart:server", user)
		}
		user = local
	}
	if password == "" {
		line, err := bufio.NewReader(e.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("reading password: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
		if password == "" {
			return errors.New("admin user create: no password given (--password or standard input)")
		}
	}
	cl, err := newAdminClient(&c)
	if err != nil {
		return err
	}
	var nonce struct {
		Nonce string `json:"nonce"`
	}
	if err := cl.do(ctx, http.MethodGet, "/_synapse/admin/v1/register", nil, false, &nonce); err != nil {
		return err
	}
	req := map[string]any{
		"nonce":    nonce.Nonce,
		"username": user,
		"password": password,
		"admin":    admin,
		"mac":      homeserver.SharedSecretMAC(cl.secret, nonce.Nonce, user, password, admin, ""),
	}
	var resp homeserver.RegisterResponse
	if err := cl.do(ctx, http.MethodPost, "/_synapse/admin/v1/register", req, false, &resp); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, resp.UserID)
	return nil
}

func adminTokenCreate(ctx context.Context, args []string, e env) error {
	var c config
	var uses int
	var expiry time.Duration
	var token string
	fs := newFlagSet("admin token create", "hearth admin token create [--uses N] [--expiry DURATION] [--token TOKEN] [flags]", false, e)
	fs.IntVar(&uses, "uses", 0, "how many registrations the token allows; 0 means no limit")
	fs.DurationVar(&expiry, "expiry", 0, "how long the token stays valid, e.g. 24h; 0 means forever")
	fs.StringVar(&token, "token", "", "the token to create (default: 16 random characters)")
	addSettings(fs, &c, adminSettings...)
	if helped, err := parseFlags(fs, args, e); helped || err != nil {
		return err
	}
	if uses < 0 {
		return errors.New("admin token create: --uses must be zero or more")
	}
	if expiry < 0 {
		return errors.New("admin token create: --expiry must be zero or more")
	}
	req := map[string]any{}
	if uses > 0 {
		req["uses_allowed"] = uses
	}
	if expiry > 0 {
		req["expiry_time"] = time.Now().Add(expiry).UnixMilli()
	}
	if token != "" {
		req["token"] = token
	}
	cl, err := newAdminClient(&c)
	if err != nil {
		return err
	}
	var resp struct {
		Token string `json:"token"`
	}
	if err := cl.do(ctx, http.MethodPost, "/_synapse/admin/v1/registration_tokens/new", req, true, &resp); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, resp.Token)
	return nil
}

// adminClient talks to a running node's client listener.
type adminClient struct {
	baseURL string
	secret  string
	http    *http.Client
}

// newAdminClient finds the node's client URL and shared secret: the URL from
// --client-url, else from the file the running node keeps in its data
// directory, else from --client-listen; the secret from
// --registration-shared-secret, else from the data directory.
func newAdminClient(c *config) (*adminClient, error) {
	url := c.ClientURL
	if url == "" {
		data, err := os.ReadFile(filepath.Join(c.Data, clientURLFile))
		switch {
		case err == nil:
			url = strings.TrimSpace(string(data))
		case errors.Is(err, fs.ErrNotExist):
			url = "http://" + dialable(c.ClientListen)
		default:
			return nil, err
		}
	}
	secret := c.RegistrationSharedSecret
	if secret == "" {
		var err error
		if secret, err = readSecret(c.Data); err != nil {
			return nil, fmt.Errorf("no registration shared secret: give --registration-shared-secret or --data of the node (%v)", err)
		}
	}
	return &adminClient{
		baseURL: strings.TrimRight(url, "/"),
		secret:  secret,
		http:    &http.Client{Timeout: adminTimeout},
	}, nil
}

// dialable turns a listen address into one to connect to: an unspecified
// host (all interfaces) becomes the loopback address.
func dialable(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// do sends a JSON request and decodes the JSON answer into out; an error
// answer becomes an error carrying the Matrix errcode and message.
func (a *adminClient) do(ctx context.Context, method, path string, in any, auth bool, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.baseURL+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+a.secret)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the node (is it running? --client-url or --data may help): %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var me struct {
			Code    string `json:"errcode"`
			Message string `json:"error"`
		}
		if json.Unmarshal(data, &me) == nil && me.Code != "" {
			return fmt.Errorf("%s %s: %d %s: %s", method, path, resp.StatusCode, me.Code, me.Message)
		}
		return fmt.Errorf("%s %s: %s", method, path, resp.Status)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}
