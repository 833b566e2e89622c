// Package mailstack starts private mail providers for tests and benchmarks:
// a real Postfix (SMTP in, submission out) in front of a real Dovecot
// (IMAP, LMTP delivery, SASL for Postfix), all on 127.0.0.1.
//
// Each Provider serves one domain (Options.Domain, default Name+".test",
// e.g. "a.test") with its own users. A user's login name, for IMAP and for
// SMTP AUTH alike, is the full address: "user1@a.test" (Email("user1")).
// Providers know nothing about each other until Link connects them: then
// mail submitted to A for user1@b.test is relayed by A's Postfix over SMTP
// to B's SMTPAddr and delivered into B's Dovecot, and the other way round.
// There is no DNS: a recipient in a domain that is neither the provider's
// nor linked is refused at RCPT (550 5.4.4 "no route to this domain").
//
// Listeners of a Provider:
//
//   - SubmissionAddr: port-587 style, STARTTLS required before AUTH, AUTH
//     PLAIN/LOGIN required to send anywhere (no relay without auth).
//   - SubmissionsAddr: port-465 style, implicit TLS, same rules.
//   - SMTPAddr: port-25 style, no AUTH, accepts mail for its own domain's
//     users only (554 5.7.1 Relay access denied otherwise).
//   - Dovecot.IMAPAddr, Dovecot.IMAPSAddr: IMAP (see dovecot).
//
// Both servers use one self-signed certificate (sync/tlsutil.SelfSigned, SANs
// localhost, 127.0.0.1 and ::1), which CAFile and TLSConfig trust.
//
// Postfix runs as its own private instance without postmulti and without
// touching /etc/postfix: the harness writes main.cf and master.cf into a
// fresh runtime directory, creates the queue and data directories there,
// and runs Postfix's master daemon as a child process ("master -c DIR -d")
// in a process group of its own. Stop ends it and removes the runtime
// directory. If the process that started a Provider dies without Stop, a
// small watchdog (sh) stops its Postfix, and dovecot's parent-death
// signal its Dovecot; only the runtime directory (/tmp/lbms-*) stays.
// Needs root (Postfix's master does) and the Debian packages
// postfix, dovecot-imapd and dovecot-lmtpd (see .ci/deps.sh).
//
// Tests normally use StartT (skipped without the stack, failed under CI:
// proc.Need); programs use Start and Stop.
package mailstack

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/dovecot"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

// Options configures Start.
type Options struct {
	// Dir receives Postfix master's stderr and, at Stop, copies of
	// postfix.log and dovecot.log. Required for Start; StartT uses
	// t.TempDir() when empty. The servers' own files (configuration,
	// queue, sockets, mail, live logs) live in a separate runtime
	// directory (Provider.RuntimeDir): Postfix's daemons run as user
	// postfix and Dovecot's LMTP delivery as nobody, so they need a
	// directory every user can traverse, and a t.TempDir() is 0700.
	Dir string
	// Name names the provider in its logs (syslog_name "postfix-NAME")
	// and errors, e.g. "a". Default "a". Letters, digits and '-'.
	Name string
	// Users maps local parts (lower case: letters, digits, . _ + -) to
	// passwords. Default {"user1": "pass1"}.
	Users map[string]string
	// Domain is the provider's mail domain. Default Name+".test".
	Domain string
	// EnforceSender makes both submission ports refuse (553 5.7.1 "Sender
	// address rejected: not owned by user ...") a MAIL FROM other than the
	// authenticated user's own address (Postfix smtpd_sender_login_maps +
	// reject_sender_login_mismatch).
	EnforceSender bool
	// MessageSizeLimit is Postfix's message_size_limit in bytes: larger
	// messages are refused (552 5.3.4). 0 keeps Postfix's default
	// (10240000); negative means no limit.
	MessageSizeLimit int
	// OAuth2IntrospectionURL and OAuth2Mechanisms: as dovecot.Options'
	// (IMAP and submission accept OAuth2 bearer tokens).
	OAuth2IntrospectionURL, OAuth2Mechanisms string
}

// Provider is a running private mail provider.
type Provider struct {
	Name   string
	Domain string
	Dir    string // Options.Dir: copies of the logs after Stop

	// Dovecot is the provider's IMAP server. Its users are the full
	// addresses ("user1@a.test"), so Dovecot.Dial(p.Email("user1")) works.
	Dovecot *dovecot.Server

	SubmissionAddr  string // "127.0.0.1:PORT": STARTTLS + AUTH required
	SubmissionsAddr string // "127.0.0.1:PORT": implicit TLS + AUTH required
	SMTPAddr        string // "127.0.0.1:PORT": inbound mail for Domain only, no AUTH

	CAFile    string      // PEM trusted for Postfix's and Dovecot's certificate (tls_ca_file)
	TLSConfig *tls.Config // client configuration trusting CAFile, ServerName "localhost"

	RuntimeDir string // configuration, queue, sockets, mail, logs; removed by Stop
	ConfigDir  string // Postfix configuration directory (postconf -c ConfigDir)
	PostfixLog string // Postfix's log (maillog_file) while running; Stop copies it to Dir

	users     map[string]string // local part -> password
	masterBin string
	queueDir  string

	mu      sync.Mutex
	routes  map[string]string // domain -> SMTPAddr of the provider serving it
	master  *masterRun        // running Postfix master, nil while stopped
	stopped bool

	stopOnce sync.Once
	stopErr  error
}

const (
	defaultName             = "a"
	defaultUser             = "user1"
	defaultPass             = "pass1"
	startTimeout            = 15 * time.Second
	stopTimeout             = 10 * time.Second
	killTimeout             = 5 * time.Second
	bindAttempts            = 8
	maxRuntimeDir           = 60 // runtime dir + "/queue/private/proxywrite" etc. must fit sun_path
	postfixStderr           = "postfix.stderr"
	postfixLogName          = "postfix.log"
	dovecotLogName          = "dovecot.log"
	postfixDefaultSizeLimit = 10240000
)

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,30}$`)
var validDomain = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)
var validLocal = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*$`)

// safePath matches paths that main.cf, master.cf and dovecot.conf take as
// they are.
var safePath = regexp.MustCompile(`^[A-Za-z0-9/._-]+$`)

// masterRun is one run of Postfix's master daemon.
type masterRun struct {
	pid    int           // master, also its process group
	exited chan struct{} // closed once master has been reaped
	err    error         // master's exit status, set before exited is closed

	// watchdog is the write end of the pipe a watchdog process reads: when
	// it closes without "stop" having been written, because the process
	// that started master died without Stop, the watchdog sends master
	// SIGTERM. (A parent-death signal would not do: the kernel clears it
	// when master switches its effective uid to create its lock file.)
	watchdog    *os.File
	watchdogCmd *exec.Cmd
}

// startWatchdog starts the watchdog of run (see masterRun.watchdog).
func (run *masterRun) startWatchdog() error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd := exec.Command("/bin/sh", "-c", `read x; [ "$x" = stop ] || kill -TERM `+strconv.Itoa(run.pid))
	cmd.Stdin = r
	cmd.SysProcAttr = procAttr()
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return err
	}
	run.watchdog, run.watchdogCmd = w, cmd
	return nil
}

// stopWatchdog tells the watchdog that master was stopped on purpose.
func (run *masterRun) stopWatchdog() {
	if run.watchdog == nil {
		return
	}
	io.WriteString(run.watchdog, "stop\n")
	run.watchdog.Close()
	run.watchdogCmd.Wait()
	run.watchdog = nil
}

type postfixIDs struct {
	uid, gid, postdropGID int
}

type env struct {
	master string
	ids    postfixIDs
}

var findEnv = sync.OnceValues(func() (env, error) {
	var e env
	if !proc.Supported {
		return e, errors.New("mailstack: needs a Unix system")
	}
	if err := dovecot.Available(); err != nil {
		return e, err
	}
	if !lmtpInstalled() {
		return e, errors.New("mailstack: Dovecot's LMTP server is not installed (Debian package dovecot-lmtpd)")
	}
	daemonDir := "/usr/lib/postfix/sbin"
	if out, err := exec.Command("postconf", "-dh", "daemon_directory").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); d != "" {
			daemonDir = d
		}
	} else if _, serr := os.Stat(filepath.Join(daemonDir, "master")); serr != nil {
		return e, fmt.Errorf("mailstack: Postfix not installed (postconf: %v; Debian package postfix)", err)
	}
	e.master = filepath.Join(daemonDir, "master")
	if fi, err := os.Stat(e.master); err != nil || fi.Mode()&0o111 == 0 {
		return e, fmt.Errorf("mailstack: Postfix master daemon not found at %s (Debian package postfix)", e.master)
	}
	if os.Geteuid() != 0 {
		return e, errors.New("mailstack: Postfix's master daemon must run as root")
	}
	u, err := user.Lookup("postfix")
	if err != nil {
		return e, fmt.Errorf("mailstack: system user postfix missing: %v", err)
	}
	g, err := user.LookupGroup("postdrop")
	if err != nil {
		return e, fmt.Errorf("mailstack: system group postdrop missing: %v", err)
	}
	e.ids.uid, _ = strconv.Atoi(u.Uid)
	e.ids.gid, _ = strconv.Atoi(u.Gid)
	e.ids.postdropGID, _ = strconv.Atoi(g.Gid)
	return e, nil
})

// lmtpInstalled looks for Dovecot's lmtp binary next to its other
// executables (Debian: /usr/lib/dovecot, others: /usr/libexec/dovecot).
func lmtpInstalled() bool {
	for _, p := range []string{"/usr/lib/dovecot/lmtp", "/usr/libexec/dovecot/lmtp", "/usr/local/lib/dovecot/lmtp", "/usr/local/libexec/dovecot/lmtp"} {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// Available reports whether a Provider can be started here: nil when
// running as root with Postfix, Dovecot 2.3 and Dovecot's LMTP server
// installed, otherwise the reason.
func Available() error {
	_, err := findEnv()
	return err
}

// available is Available, replaceable by tests of StartT.
var available = Available

// installHint tells how to get the stack (.ci/deps.sh installs it).
const installHint = "make test installs Postfix and Dovecot; Postfix needs root"

// StartT starts a Provider for a test and stops it in t.Cleanup (logging the
// end of Postfix's and Dovecot's logs when the test failed). When the
// stack is not available the test is skipped, except when the environment
// variable CI is set: then it fails (proc.Need).
func StartT(t testing.TB, opts Options) *Provider {
	t.Helper()
	return proc.StartT(t, "mailstack", "Postfix+Dovecot", available(), installHint, func() (*Provider, error) {
		if opts.Dir == "" {
			opts.Dir = t.TempDir()
		}
		return Start(opts)
	})
}

// Start starts a provider: Dovecot with LMTP and an auth socket, then
// Postfix. It returns once all listeners answer (typically well under a
// second).
func Start(opts Options) (*Provider, error) {
	e, err := findEnv()
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("mailstack: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("mailstack: %w", err)
	}
	name := opts.Name
	if name == "" {
		name = defaultName
	}
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("mailstack: invalid Name %q (letters, digits, '-')", name)
	}
	domain := strings.ToLower(opts.Domain)
	if domain == "" {
		domain = strings.ToLower(name) + ".test"
	}
	if !validDomain.MatchString(domain) {
		return nil, fmt.Errorf("mailstack: invalid Domain %q", opts.Domain)
	}
	users := map[string]string{defaultUser: defaultPass}
	if len(opts.Users) > 0 {
		users = make(map[string]string, len(opts.Users))
		for u, pw := range opts.Users {
			if !validLocal.MatchString(u) {
				return nil, fmt.Errorf("mailstack: unsupported user name %q (a local part: lower-case letters, digits, . _ + -)", u)
			}
			if pw == "" || strings.ContainsAny(pw, ":\r\n\x00") {
				return nil, fmt.Errorf("mailstack: password of %q is empty or contains ':' or a line break", u)
			}
			users[u] = pw
		}
	}
	sizeLimit := opts.MessageSizeLimit
	switch {
	case sizeLimit == 0:
		sizeLimit = postfixDefaultSizeLimit
	case sizeLimit < 0:
		sizeLimit = 0
	}

	rt, err := makeRuntimeDir()
	if err != nil {
		return nil, err
	}
	p := &Provider{
		Name:       name,
		Domain:     domain,
		Dir:        dir,
		RuntimeDir: rt,
		ConfigDir:  filepath.Join(rt, "postfix"),
		PostfixLog: filepath.Join(rt, "log", postfixLogName),
		users:      users,
		masterBin:  e.master,
		queueDir:   filepath.Join(rt, "queue"),
		routes:     map[string]string{},
	}
	ok := false
	defer func() {
		if !ok {
			if p.Dovecot != nil {
				p.Dovecot.Stop()
			}
			p.copyLogs()
			os.RemoveAll(rt)
		}
	}()

	// Dovecot: users are full addresses; sockets for Postfix in rt/sock.
	sockDir := filepath.Join(rt, "sock")
	dovecotDir := filepath.Join(rt, "dovecot")
	for _, d := range []string{sockDir, dovecotDir, filepath.Join(rt, "log")} {
		if err := mkdirOwned(d, 0o755, 0, 0); err != nil {
			return nil, fmt.Errorf("mailstack: %w", err)
		}
	}
	dusers := make(map[string]string, len(users))
	for u, pw := range users {
		dusers[u+"@"+domain] = pw
	}
	dv, err := dovecot.Start(dovecot.Options{
		Dir:        dovecotDir,
		Users:      dusers,
		LMTPSocket: filepath.Join(sockDir, "lmtp"),
		AuthSocket: filepath.Join(sockDir, "auth"),

		OAuth2IntrospectionURL: opts.OAuth2IntrospectionURL,
		OAuth2Mechanisms:       opts.OAuth2Mechanisms,
	})
	if err != nil {
		return nil, fmt.Errorf("mailstack: %w", err)
	}
	p.Dovecot = dv
	p.CAFile = dv.CAFile
	p.TLSConfig = dv.TLSConfig.Clone()
	// Each user's INBOX exists before the first delivery: Dovecot 2.3
	// answers an LMTP delivery "451 4.2.0 Mailbox already exists" (or
	// panics on a lock deadlock) when a client's first session creates it
	// at the same moment.
	for u := range dusers {
		c, err := dv.Dial(u)
		if err != nil {
			return nil, fmt.Errorf("mailstack: %w", err)
		}
		_, err = c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		c.Logout().Wait()
		c.Close()
		if err != nil {
			return nil, fmt.Errorf("mailstack: creating the INBOX of %s: %w", u, err)
		}
	}

	// Postfix.
	if err := mkdirOwned(p.ConfigDir, 0o755, 0, 0); err != nil {
		return nil, fmt.Errorf("mailstack: %w", err)
	}
	if err := mkQueue(p.queueDir, filepath.Join(rt, "data"), e.ids); err != nil {
		return nil, fmt.Errorf("mailstack: postfix queue: %w", err)
	}
	// Postfix reads its key as root before dropping privileges; a copy
	// inside ConfigDir keeps the instance self-contained.
	for _, f := range [][2]string{{dv.CertFile, "cert.pem"}, {dv.KeyFile, "key.pem"}} {
		if err := copyFile(f[0], filepath.Join(p.ConfigDir, f[1]), 0o600); err != nil {
			return nil, fmt.Errorf("mailstack: %w", err)
		}
	}
	mailboxes := map[string]string{}
	senders := map[string]string{}
	for u := range users {
		mailboxes[p.Email(u)] = "OK"
		senders[p.Email(u)] = p.Email(u)
	}
	if err := writeTable(filepath.Join(p.ConfigDir, "mailboxes"), mailboxes); err != nil {
		return nil, fmt.Errorf("mailstack: %w", err)
	}
	if err := writeTable(filepath.Join(p.ConfigDir, "canonical"), map[string]string{}); err != nil {
		return nil, fmt.Errorf("mailstack: %w", err)
	}
	if err := writeTable(filepath.Join(p.ConfigDir, "senders"), senders); err != nil {
		return nil, fmt.Errorf("mailstack: %w", err)
	}
	if err := p.writeTransport(); err != nil {
		return nil, err
	}
	params := mainParams{
		Name:          name,
		Domain:        domain,
		QueueDir:      p.queueDir,
		DataDir:       filepath.Join(rt, "data"),
		ConfigDir:     p.ConfigDir,
		LogFile:       p.PostfixLog,
		LogDir:        filepath.Join(rt, "log"),
		LMTPSocket:    filepath.Join(sockDir, "lmtp"),
		AuthSocket:    filepath.Join(sockDir, "auth"),
		CertFile:      filepath.Join(p.ConfigDir, "cert.pem"),
		KeyFile:       filepath.Join(p.ConfigDir, "key.pem"),
		SizeLimit:     sizeLimit,
		EnforceSender: opts.EnforceSender,
	}
	mainConf, err := render(mainCF, params)
	if err != nil {
		return nil, err
	}
	if err := writeCool(filepath.Join(p.ConfigDir, "main.cf"), mainConf, 0o644); err != nil {
		return nil, fmt.Errorf("mailstack: %w", err)
	}
	var lastErr error
	for attempt := 0; attempt < bindAttempts; attempt++ {
		ports, err := freePorts(3)
		if err != nil {
			return nil, fmt.Errorf("mailstack: finding free ports: %w", err)
		}
		p.SMTPAddr, p.SubmissionAddr, p.SubmissionsAddr = ports[0], ports[1], ports[2]
		mp := masterParams{mainParams: params, Submission: map[string]string{
			"submission":  p.SubmissionAddr,
			"submissions": p.SubmissionsAddr,
		}}
		mp.SMTPListen = p.SMTPAddr
		masterConf, err := render(masterCF, mp)
		if err != nil {
			return nil, err
		}
		if err := writeCool(filepath.Join(p.ConfigDir, "master.cf"), masterConf, 0o644); err != nil {
			return nil, fmt.Errorf("mailstack: %w", err)
		}
		p.mu.Lock()
		lastErr = p.startPostfix()
		p.mu.Unlock()
		if lastErr == nil {
			ok = true
			return p, nil
		}
		if !errors.Is(lastErr, errAddrInUse) {
			return nil, lastErr
		}
	}
	return nil, fmt.Errorf("mailstack: giving up after %d port conflicts: %w", bindAttempts, lastErr)
}

// makeRuntimeDir creates a short directory every user can traverse, in
// the first of TMPDIR, /tmp and /var/tmp that allows this.
func makeRuntimeDir() (string, error) {
	var tried []string
	for _, base := range []string{os.TempDir(), "/tmp", "/var/tmp"} {
		if !traversable(base) {
			tried = append(tried, base+" (not traversable by other users)")
			continue
		}
		d, err := os.MkdirTemp(base, "lbms-")
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (%v)", base, err))
			continue
		}
		if len(d) > maxRuntimeDir || !safePath.MatchString(d) {
			os.Remove(d)
			tried = append(tried, base+" (path too long for Unix sockets, or with characters a configuration file cannot take)")
			continue
		}
		if err := os.Chmod(d, 0o755); err != nil {
			os.Remove(d)
			return "", fmt.Errorf("mailstack: %w", err)
		}
		return d, nil
	}
	return "", fmt.Errorf("mailstack: no usable directory for the servers' files: %s", strings.Join(tried, "; "))
}

// traversable reports whether every directory from / to dir is searchable
// by everyone (o+x), so that the postfix and nobody users can reach files
// below it.
func traversable(dir string) bool {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		fi, err := os.Stat(dir)
		if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeCool(dst, b, mode)
}

var errAddrInUse = errors.New("address already in use")

// freePorts returns n distinct 127.0.0.1:PORT addresses that were free a
// moment ago.
func freePorts(n int) ([]string, error) {
	var addrs []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	return addrs, nil
}

// startPostfix runs Postfix's master as a child in its own process group
// and waits until the three SMTP listeners greet. p.mu is held.
func (p *Provider) startPostfix() error {
	if p.master != nil {
		return errors.New("mailstack: Postfix is already running")
	}
	pidFile := filepath.Join(p.queueDir, "pid", "master.pid")
	os.Remove(pidFile)
	stderrPath := filepath.Join(p.Dir, postfixStderr)
	errFile, err := os.OpenFile(stderrPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("mailstack: %w", err)
	}
	run := &masterRun{exited: make(chan struct{})}
	exited := run.exited
	type startResult struct {
		pid int
		err error
	}
	started := make(chan startResult, 1)
	go func() {
		// -d: stay in the foreground, as our child, with our stderr.
		cmd := exec.Command(p.masterBin, "-c", p.ConfigDir, "-d")
		cmd.Dir = p.RuntimeDir
		cmd.Stdout, cmd.Stderr = errFile, errFile
		cmd.SysProcAttr = procAttr()
		if err := cmd.Start(); err != nil {
			errFile.Close()
			started <- startResult{err: err}
			close(exited)
			return
		}
		started <- startResult{pid: cmd.Process.Pid}
		run.err = cmd.Wait()
		errFile.Close()
		close(exited)
	}()
	res := <-started
	if res.err != nil {
		return fmt.Errorf("mailstack: starting %s: %w", p.masterBin, res.err)
	}
	pid := res.pid
	run.pid = pid
	if err := run.startWatchdog(); err != nil {
		killAndWait(pid, exited)
		return fmt.Errorf("mailstack: starting the watchdog of Postfix: %w", err)
	}
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for {
		select {
		case <-exited:
			run.stopWatchdog()
			// Daemons master had already started leave with it.
			proc.SignalGroup(pid, syscall.SIGKILL)
			proc.WaitGroupGone(pid, killTimeout)
			// A bind failure kills master before its logging works (and
			// it writes nothing to a stderr that is not a tty): look for
			// the usual cause ourselves.
			for _, addr := range []string{p.SMTPAddr, p.SubmissionAddr, p.SubmissionsAddr} {
				l, err := net.Listen("tcp", addr)
				if err != nil {
					if errors.Is(err, syscall.EADDRINUSE) {
						return fmt.Errorf("mailstack: postfix master exited during startup (%v): %s is taken: %w", run.err, addr, errAddrInUse)
					}
					continue
				}
				l.Close()
			}
			out, _ := os.ReadFile(stderrPath)
			msg := strings.TrimSpace(string(out)) + "\n" + tailFile(p.PostfixLog, 10)
			return fmt.Errorf("mailstack: postfix master exited during startup (%v): %s", run.err, strings.TrimSpace(msg))
		default:
		}
		if filePID, err := readPID(pidFile); err != nil || filePID != pid {
			lastErr = fmt.Errorf("no master.pid for pid %d yet", pid)
		} else if lastErr = p.probe(); lastErr == nil {
			break
		}
		if time.Now().After(deadline) {
			killAndWait(pid, exited)
			run.stopWatchdog()
			return fmt.Errorf("mailstack: Postfix did not answer within %v: %v\n%s", startTimeout, lastErr, tailFile(p.PostfixLog, 20))
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.master = run
	return nil
}

func killAndWait(pid int, exited chan struct{}) {
	if pid > 0 {
		proc.SignalGroup(pid, syscall.SIGKILL)
	}
	select {
	case <-exited:
	case <-time.After(killTimeout):
	}
	proc.WaitGroupGone(pid, killTimeout)
}

// probe succeeds once all three listeners send an SMTP greeting.
func (p *Provider) probe() error {
	for _, a := range []struct {
		addr string
		tls  bool
	}{{p.SMTPAddr, false}, {p.SubmissionAddr, false}, {p.SubmissionsAddr, true}} {
		if err := greet(a.addr, a.tls, p.TLSConfig); err != nil {
			return err
		}
	}
	return nil
}

func greet(addr string, useTLS bool, cfg *tls.Config) error {
	d := &net.Dialer{Timeout: time.Second}
	var conn net.Conn
	var err error
	if useTLS {
		conn, err = tls.DialWithDialer(d, "tcp", addr, cfg.Clone())
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Second))
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return fmt.Errorf("%s: reading greeting: %w", addr, err)
	}
	if !strings.HasPrefix(line, "220") {
		return fmt.Errorf("%s: unexpected greeting %q", addr, line)
	}
	io.WriteString(conn, "QUIT\r\n")
	r.ReadString('\n')
	return nil
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// PostfixPID returns the pid of the running Postfix master (also its
// process group), or 0 while Postfix is stopped.
func (p *Provider) PostfixPID() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.master == nil {
		return 0
	}
	return p.master.pid
}

// stopPostfix stops master and waits until no process of its group is
// left. p.mu is held.
func (p *Provider) stopPostfix() error {
	run := p.master
	if run == nil {
		return nil
	}
	p.master = nil
	defer run.stopWatchdog()
	pid, exited := run.pid, run.exited
	var errs []error
	select {
	case <-exited:
		errs = append(errs, fmt.Errorf("postfix master (pid %d) had exited by itself (%v): %s", pid, run.err, tailFile(p.PostfixLog, 5)))
	default:
		if filePID, err := readPID(filepath.Join(p.queueDir, "pid", "master.pid")); err == nil && filePID != pid {
			errs = append(errs, fmt.Errorf("master.pid names %d, but this instance's master is %d", filePID, pid))
		}
		// master passes SIGTERM on to its whole process group.
		if err := proc.Signal(pid, syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
		select {
		case <-exited:
		case <-time.After(stopTimeout):
			errs = append(errs, fmt.Errorf("postfix master (pid %d) ignored SIGTERM for %v; killed", pid, stopTimeout))
			proc.SignalGroup(pid, syscall.SIGKILL)
			select {
			case <-exited:
			case <-time.After(killTimeout):
				return fmt.Errorf("mailstack: postfix master (pid %d) survived SIGKILL", pid)
			}
		}
	}
	// Daemons busy when master left finish on their own SIGTERM.
	proc.SignalGroup(pid, syscall.SIGTERM)
	if !proc.WaitGroupGone(pid, killTimeout) {
		errs = append(errs, fmt.Errorf("postfix processes of group %d ignored SIGTERM for %v; killed", pid, killTimeout))
		proc.SignalGroup(pid, syscall.SIGKILL)
		if !proc.WaitGroupGone(pid, killTimeout) {
			errs = append(errs, fmt.Errorf("postfix processes of group %d survived SIGKILL", pid))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("mailstack: stop postfix: %w", errors.Join(errs...))
	}
	return nil
}

// StopSMTP stops the provider's Postfix only (all three SMTP ports then
// refuse connections; mail in its queue stays there), simulating an outage
// of the provider's sending side while IMAP keeps working.
func (p *Provider) StopSMTP() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("mailstack: provider stopped")
	}
	return p.stopPostfix()
}

// StartSMTP starts the provider's Postfix again after StopSMTP, on the same
// ports and with the same queue (mail deferred meanwhile, here or at linked
// providers, is retried within a second or two).
func (p *Provider) StartSMTP() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("mailstack: provider stopped")
	}
	if p.master != nil {
		return nil
	}
	return p.startPostfix()
}

// Stop stops Postfix and Dovecot, waits until no process of either is
// left, keeps their logs in Dir and removes RuntimeDir (queue, mail).
// Calling it again returns the first result.
func (p *Provider) Stop() error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		var errs []error
		if err := p.stopPostfix(); err != nil {
			errs = append(errs, err)
		}
		p.mu.Unlock()
		if err := p.Dovecot.Stop(); err != nil {
			errs = append(errs, err)
		}
		p.copyLogs()
		if err := os.RemoveAll(p.RuntimeDir); err != nil {
			errs = append(errs, err)
		}
		p.stopErr = errors.Join(errs...)
	})
	return p.stopErr
}

// copyLogs keeps the logs in Dir before RuntimeDir goes.
func (p *Provider) copyLogs() {
	copyFile(p.PostfixLog, filepath.Join(p.Dir, postfixLogName), 0o600)
	if p.Dovecot != nil {
		copyFile(p.Dovecot.LogFile, filepath.Join(p.Dir, dovecotLogName), 0o600)
	}
}

// Link connects providers: afterwards each relays mail for the other's
// domain to the other's SMTPAddr. Providers may be linked to any number of
// others; linking is symmetric and idempotent.
func Link(a, b *Provider) error {
	if a == b {
		return errors.New("mailstack: cannot link a provider to itself")
	}
	if a.Domain == b.Domain {
		return fmt.Errorf("mailstack: both providers serve %s", a.Domain)
	}
	if err := a.addRoute(b.Domain, b.SMTPAddr); err != nil {
		return err
	}
	return b.addRoute(a.Domain, a.SMTPAddr)
}

func (p *Provider) addRoute(domain, addr string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return errors.New("mailstack: provider stopped")
	}
	if p.routes[domain] == addr {
		return nil
	}
	p.routes[domain] = addr
	if err := p.writeTransport(); err != nil {
		return err
	}
	return p.reload()
}

// Misroute makes the provider accept mail for any of its users and
// deliver it into user's mailbox instead (BT's anti-spam update put its
// customers' mail into one test mailbox); "" ends it.
func (p *Provider) Misroute(user string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := map[string]string{}
	if user != "" {
		t["@"+p.Domain] = p.Email(user)
	}
	if err := writeTable(filepath.Join(p.ConfigDir, "canonical"), t); err != nil {
		return fmt.Errorf("mailstack: %w", err)
	}
	return p.reload()
}

// writeTransport writes the transport table from p.routes.
func (p *Provider) writeTransport() error {
	t := make(map[string]string, len(p.routes))
	for d, addr := range p.routes {
		host, port, _ := net.SplitHostPort(addr)
		t[d] = fmt.Sprintf("smtp:[%s]:%s", host, port)
	}
	if err := writeTable(filepath.Join(p.ConfigDir, "transport"), t); err != nil {
		return fmt.Errorf("mailstack: %w", err)
	}
	return nil
}

// reload makes a running Postfix re-read its configuration (what
// "postfix reload" does: SIGHUP to master) and waits until every daemon
// started before has exited, so no lookup uses the old tables any more.
// Old smtpd processes are not waited for: one serving a client lives until
// that session ends (new sessions get new processes). p.mu is held.
func (p *Provider) reload() error {
	if p.master == nil {
		return nil // read at the next StartSMTP
	}
	var old []int
	for _, pid := range proc.ChildrenOf(p.master.pid) {
		if proc.Comm(pid) != "smtpd" {
			old = append(old, pid)
		}
	}
	if err := proc.Signal(p.master.pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("mailstack: reload: %w", err)
	}
	deadline := time.Now().Add(stopTimeout)
	for {
		left := 0
		for _, c := range old {
			if proc.Alive(c) {
				left++
			}
		}
		if left == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mailstack: reload: %d daemons of the old configuration still running after %v", left, stopTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// FlushQueue asks Postfix to try every queued message now (postqueue -f),
// as an administrator does once a neighbour is back.
func (p *Provider) FlushQueue() error {
	out, err := exec.Command("postqueue", "-c", p.ConfigDir, "-f").CombinedOutput()
	if err != nil {
		return fmt.Errorf("mailstack: postqueue -f: %v: %s", err, out)
	}
	return nil
}

// AccountConfig is a Lifeboat [[account]] section named name for user of
// this provider: IMAP over TLS and submission with STARTTLS, trusting the
// provider's CA, the password given by password_command. imapPort and
// smtpPort replace the provider's own ports when not 0 (a proxy in front).
func (p *Provider) AccountConfig(name, user string, imapPort, smtpPort int) string {
	if imapPort == 0 {
		imapPort = portOf(p.Dovecot.IMAPSAddr)
	}
	if smtpPort == 0 {
		smtpPort = portOf(p.SubmissionAddr)
	}
	return fmt.Sprintf(`
[[account]]
name = %q
email = %q
[account.imap]
host = "localhost"
port = %d
security = "tls"
username = %q
tls_ca_file = %q
password_command = "printf %%s %s"
[account.smtp]
host = "localhost"
port = %d
security = "starttls"
tls_ca_file = %q
`, name, p.Email(user), imapPort, p.Email(user), p.CAFile, p.Password(user), smtpPort, p.CAFile)
}

func portOf(addr string) int {
	_, port, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(port)
	return n
}

// Email returns the address (and login name) of user: "user1@a.test". A
// full address is returned as it is.
func (p *Provider) Email(user string) string {
	if strings.Contains(user, "@") {
		return user
	}
	return user + "@" + p.Domain
}

// Password returns the password of user (local part or full address), ""
// for an unknown user.
func (p *Provider) Password(user string) string {
	if local, dom, ok := strings.Cut(user, "@"); ok {
		if !strings.EqualFold(dom, p.Domain) {
			return ""
		}
		user = local
	}
	return p.users[user]
}

// Users returns the local parts of the provider's users, sorted.
func (p *Provider) Users() []string {
	names := make([]string, 0, len(p.users))
	for u := range p.users {
		names = append(names, u)
	}
	sort.Strings(names)
	return names
}

// WaitForMail polls the provider's Dovecot over IMAP until folder of user
// (local part or address) holds at least n messages, and returns the raw
// bytes of all its messages in UID order. It fails after timeout.
func (p *Provider) WaitForMail(user, folder string, n int, timeout time.Duration) ([][]byte, error) {
	login := p.Email(user)
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		msgs, err := p.fetchFolder(login, folder, n)
		if err == nil && len(msgs) >= n {
			return msgs, nil
		}
		if err != nil {
			lastErr = err
		} else {
			lastErr = fmt.Errorf("%d messages", len(msgs))
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("mailstack: %s's %q on %s does not hold %d messages after %v (last: %v)", login, folder, p.Name, n, timeout, lastErr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fetchFolder returns the messages of folder when it holds at least n
// (otherwise a slice of nils as long as the folder, to count).
func (p *Provider) fetchFolder(login, folder string, n int) ([][]byte, error) {
	c, err := p.Dovecot.Dial(login)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil, fmt.Errorf("select %q: %w", folder, err)
	}
	if int(sel.NumMessages) < n || sel.NumMessages == 0 {
		c.Logout().Wait()
		return make([][]byte, sel.NumMessages), nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	fetched, err := c.Fetch(imap.UIDSet{imap.UIDRange{Start: 1, Stop: 0}}, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		return nil, fmt.Errorf("fetch %q: %w", folder, err)
	}
	sort.Slice(fetched, func(i, j int) bool { return fetched[i].UID < fetched[j].UID })
	out := make([][]byte, 0, len(fetched))
	for _, m := range fetched {
		out = append(out, m.FindBodySection(section))
	}
	c.Logout().Wait()
	return out, nil
}

// LogTail returns the last n lines (n <= 0: 50) of Postfix's log and of
// Dovecot's log, for failure messages.
func (p *Provider) LogTail(n int) string {
	if n <= 0 {
		n = 50
	}
	var b strings.Builder
	fmt.Fprintf(&b, "--- postfix (%s):\n%s\n", p.PostfixLog, tailFile(liveOrCopy(p.PostfixLog, filepath.Join(p.Dir, postfixLogName)), n))
	if s, err := os.ReadFile(filepath.Join(p.Dir, postfixStderr)); err == nil && len(strings.TrimSpace(string(s))) > 0 {
		fmt.Fprintf(&b, "--- postfix master stderr:\n%s\n", tailLines(string(s), n))
	}
	if p.Dovecot != nil {
		if _, err := os.Stat(p.Dovecot.LogFile); err == nil {
			fmt.Fprintf(&b, "--- dovecot (%s):\n%s\n", p.Dovecot.LogFile, p.Dovecot.LogTail(n))
		} else {
			copied := filepath.Join(p.Dir, dovecotLogName)
			fmt.Fprintf(&b, "--- dovecot (%s):\n%s\n", copied, tailFile(copied, n))
		}
	}
	return b.String()
}

// liveOrCopy returns live while it exists (the provider runs), else copy.
func liveOrCopy(live, copy string) string {
	if _, err := os.Stat(live); err == nil {
		return live
	}
	return copy
}

func tailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tailLines(string(b), n)
}

func tailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
