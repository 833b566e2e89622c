// Package dovecot starts and stops private Dovecot IMAP servers for
// tests and benchmarks.
//
// Each Server is a separate Dovecot 2.3 instance with its own configuration,
// base_dir, state_dir, log, TLS certificates, users and Maildir storage, all
// under Options.Dir, listening on two free loopback ports: IMAPAddr
// (plaintext, STARTTLS available, plaintext LOGIN allowed) and IMAPSAddr
// (implicit TLS). Any number of instances may run at once, next to a system
// Dovecot, and from several test binaries in parallel.
//
// The harness works as root (the usual CI case: mail is then accessed as
// "nobody", chrooted to Dir/home) and as an ordinary user (every Dovecot
// process then runs as that user).
//
// Invariants: an instance listens only on Options.ListenAddr (default
// 127.0.0.1), on free ports; its TLS certificate is self-signed
// (sync/tlsutil.SelfSigned, SANs localhost, 127.0.0.1, ::1) and trusted
// only through CAFile or TLSConfig, so a client without them fails as
// against a real server; Stop leaves no process of the instance behind.
//
// Tests normally use StartT (skipped without Dovecot, failed under CI:
// proc.Need); programs use Start and Stop.
package dovecot

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/lifeboat-mail/lifeboat/sync/testenv/proc"
)

// Options configures Start.
type Options struct {
	// Dir is the state directory: configuration, certificates, mail, logs.
	// Required for Start; StartT uses t.TempDir() when empty. Starting again
	// on the Dir of a stopped Server keeps its mail and its certificates.
	Dir string
	// Users maps user names to passwords. Default {"user1": "pass1"}.
	Users map[string]string
	// ListenAddr is the IP address both listeners bind. Default "127.0.0.1".
	ListenAddr string

	// LMTPSocket, when set, is the absolute path of a Unix socket (mode
	// 0666) on which the instance also serves LMTP: a message for
	// RCPT TO:<name> is stored in the INBOX of user name (user names that
	// are addresses, "user1@a.test", make this the usual MTA set-up);
	// unknown users are refused with 550. The socket's directory must exist
	// and be reachable by the LMTP client (Postfix's lmtp runs as user
	// postfix, so not inside a 0700 t.TempDir). Needs Dovecot's lmtp
	// (Debian package dovecot-lmtpd). As root, LMTP stores mail as the
	// mail user without the chroot IMAP uses, so Dir and every directory
	// above it must be searchable by others: not a t.TempDir() (Start
	// refuses such a Dir). Default: no LMTP.
	LMTPSocket string
	// AuthSocket, when set, is the absolute path of an extra Unix socket
	// (mode 0666) speaking Dovecot's authentication protocol, so that an
	// MTA can check SMTP AUTH against the instance's users (Postfix:
	// smtpd_sasl_type = dovecot, smtpd_sasl_path = AuthSocket). Same
	// directory rules as LMTPSocket. Default: none.
	AuthSocket string

	// Prefix and Separator shape the personal namespace: "INBOX." and "."
	// make the instance name folders as Cyrus does by default
	// ("INBOX.Lists.go"). Default "" and "/".
	Prefix, Separator string
	// MailLocation replaces the default Maildir storage, e.g.
	// "mbox:~/archive:UTF-8" to serve mbox files put into a user's Home.
	MailLocation string
	// IMAPCapability, when set, replaces the capabilities Dovecot announces
	// after login (imap_capability), e.g. to play a server without UIDPLUS
	// or CONDSTORE.
	IMAPCapability string
	// MailFsync is Dovecot's mail_fsync: "never" (default: test data,
	// nothing to lose) or "optimized" (Dovecot's own default, what a
	// provider runs: a benchmark of writes into the server uses it).
	MailFsync string
	// ExtraConfig is appended to the generated configuration as it is
	// (e.g. a quota plugin that refuses big messages).
	ExtraConfig string
	// OAuth2IntrospectionURL, when set, makes the instance accept OAuth2
	// bearer tokens (AUTHENTICATE XOAUTH2 and OAUTHBEARER, and the same
	// through AuthSocket for an MTA) through Dovecot's oauth2 passdb,
	// which asks this RFC 7662 introspection endpoint (POST token=…) and
	// accepts {"active": true, "username": USER}. Passwords keep working.
	OAuth2IntrospectionURL string
	// OAuth2Mechanisms are the OAuth2 mechanisms offered: "xoauth2",
	// "oauthbearer" or (default) both, space-separated.
	OAuth2Mechanisms string
}

// Server is a running private Dovecot instance.
type Server struct {
	Dir       string      // state directory
	IMAPAddr  string      // "127.0.0.1:PORT": plaintext listener, STARTTLS and plaintext LOGIN allowed
	IMAPSAddr string      // "127.0.0.1:PORT": implicit TLS listener
	CAFile    string      // PEM that clients trust (tls_ca_file): the self-signed server certificate (SANs localhost, 127.0.0.1, ::1)
	TLSConfig *tls.Config // client configuration trusting CAFile, ServerName "localhost"

	ConfigFile string // dovecot.conf of this instance (for doveadm -c)
	LogFile    string // Dovecot's log
	CertFile   string // PEM server certificate (trusted through CAFile), for other test servers to reuse
	KeyFile    string // PEM private key of CertFile
	LMTPSocket string // Options.LMTPSocket: Unix socket serving LMTP, or ""
	AuthSocket string // Options.AuthSocket: Unix socket serving Dovecot auth, or ""

	users      map[string]string
	baseDir    string
	tmpBaseDir string // short base_dir outside Dir (long Dir paths), removed by Stop
	stderrPath string
	instance   string
	homeRoot   string
	doveadm    string
	prefix     string
	separator  string
	location   string
	capability string
	fsync      string
	extra      string
	oauth2URL  string
	oauth2Mech string

	pid     int           // Dovecot master (== process group)
	exited  chan struct{} // closed once the master has been reaped
	exitErr error         // set before exited is closed

	stopOnce sync.Once
	stopErr  error
}

const (
	startTimeout   = 10 * time.Second
	stopTimeout    = 10 * time.Second
	killTimeout    = 5 * time.Second
	bindAttempts   = 8
	maxBaseDirLen  = 76 // base_dir + the longest socket name must fit sun_path (107 bytes)
	defaultUser    = "user1"
	defaultPass    = "pass1"
	defaultListen  = "127.0.0.1"
	masterPIDFile  = "master.pid"
	stderrFileName = "dovecot.stderr"
)

type binaries struct {
	dovecot, doveadm, version string
}

var findBinaries = sync.OnceValues(func() (binaries, error) {
	var b binaries
	if !proc.Supported {
		return b, errors.New("testenv/dovecot: needs a Unix system")
	}
	var err error
	if b.dovecot, err = lookBinary("dovecot", "/usr/sbin/dovecot", "/usr/local/sbin/dovecot"); err != nil {
		return b, err
	}
	if b.doveadm, err = lookBinary("doveadm", "/usr/bin/doveadm", "/usr/local/bin/doveadm"); err != nil {
		return b, err
	}
	out, err := exec.Command(b.dovecot, "--version").Output()
	if err != nil {
		return b, fmt.Errorf("testenv/dovecot: %s --version: %w", b.dovecot, err)
	}
	b.version = strings.TrimSpace(string(out))
	if !strings.HasPrefix(b.version, "2.3.") {
		return b, fmt.Errorf("testenv/dovecot: Dovecot %s found at %s, but the harness's configuration is written for Dovecot 2.3", b.version, b.dovecot)
	}
	if os.Geteuid() == 0 {
		for _, name := range []string{"dovecot", "dovenull"} {
			if _, err := user.Lookup(name); err != nil {
				return b, fmt.Errorf("testenv/dovecot: system user %q missing (is the dovecot-core package installed?): %v", name, err)
			}
		}
	}
	return b, nil
})

func lookBinary(name string, fallbacks ...string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, p := range fallbacks {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("testenv/dovecot: %s not found in PATH or %s (install dovecot-imapd)", name, strings.Join(fallbacks, ", "))
}

// Available reports whether a private Dovecot can be started here: nil when
// dovecot and doveadm (2.3) are installed (certificates are generated in Go,
// no openssl needed), otherwise the reason.
func Available() error {
	_, err := findBinaries()
	return err
}

// Version returns the Dovecot version string ("2.3.19.1 (9b53102964)"), or ""
// when Dovecot is not available.
func Version() string {
	b, _ := findBinaries()
	return b.version
}

// StartT starts a Server for a test and stops it in t.Cleanup (printing the
// end of Dovecot's log when the test failed). Without Dovecot the test is
// skipped, except when the environment variable CI is set: then it fails,
// because a CI run must not silently skip the real-server tests (proc.Need).
func StartT(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	switch len(opts) {
	case 0:
	case 1:
		o = opts[0]
	default:
		t.Fatalf("dovecot.StartT: at most one Options, got %d", len(opts))
	}
	return proc.StartT(t, "testenv/dovecot", "Dovecot", available(), installHint, func() (*Server, error) {
		if o.Dir == "" {
			o.Dir = t.TempDir()
		}
		return Start(o)
	})
}

// available is Available, replaceable by tests of StartT.
var available = Available

// installHint tells how to get Dovecot (.ci/deps.sh installs it).
const installHint = "make test installs it"

// Start starts a private Dovecot instance in opts.Dir and returns once it
// accepts IMAP connections (at most about 10 s).
func Start(opts Options) (*Server, error) {
	bins, err := findBinaries()
	if err != nil {
		return nil, err
	}
	if opts.Dir == "" {
		return nil, errors.New("testenv/dovecot: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	users := map[string]string{defaultUser: defaultPass}
	if len(opts.Users) > 0 {
		users = make(map[string]string, len(opts.Users))
		for u, p := range opts.Users {
			users[u] = p
		}
	}
	if err := checkUsers(users); err != nil {
		return nil, err
	}
	listen := opts.ListenAddr
	if listen == "" {
		listen = defaultListen
	}
	if net.ParseIP(listen) == nil {
		return nil, fmt.Errorf("testenv/dovecot: ListenAddr %q is not an IP address", listen)
	}
	for _, sock := range []struct{ name, path string }{{"LMTPSocket", opts.LMTPSocket}, {"AuthSocket", opts.AuthSocket}} {
		if err := checkSocketPath(sock.name, sock.path); err != nil {
			return nil, err
		}
	}
	if opts.LMTPSocket != "" && opts.LMTPSocket == opts.AuthSocket {
		return nil, errors.New("testenv/dovecot: LMTPSocket and AuthSocket are the same path")
	}

	s := &Server{
		Dir:        dir,
		CAFile:     filepath.Join(dir, "etc", "ca.pem"),
		ConfigFile: filepath.Join(dir, "dovecot.conf"),
		LogFile:    filepath.Join(dir, "dovecot.log"),
		CertFile:   filepath.Join(dir, "etc", "cert.pem"),
		KeyFile:    filepath.Join(dir, "etc", "key.pem"),
		LMTPSocket: opts.LMTPSocket,
		AuthSocket: opts.AuthSocket,
		users:      users,
		stderrPath: filepath.Join(dir, stderrFileName),
		homeRoot:   filepath.Join(dir, "home"),
		doveadm:    bins.doveadm,
		prefix:     opts.Prefix,
		separator:  opts.Separator,
		location:   opts.MailLocation,
		capability: opts.IMAPCapability,
		fsync:      opts.MailFsync,
		extra:      opts.ExtraConfig,
		oauth2URL:  opts.OAuth2IntrospectionURL,
		oauth2Mech: opts.OAuth2Mechanisms,
		instance:   "lbtest-" + randHex(6),
	}
	if s.LMTPSocket != "" && os.Geteuid() == 0 && !searchable(dir) {
		return nil, fmt.Errorf("testenv/dovecot: with LMTPSocket, running as root, Dir %s and the directories above it must be searchable by others (LMTP stores mail as the mail user without a chroot)", dir)
	}
	if err := s.prepare(); err != nil {
		return nil, err
	}
	if err := s.start(bins.dovecot, listen); err != nil {
		s.removeTmpBaseDir()
		return nil, err
	}
	return s, nil
}

// prepare creates the state directory: certificates, passwd-file, homes,
// base_dir and state_dir.
func (s *Server) prepare() error {
	for _, d := range []string{s.Dir, filepath.Join(s.Dir, "etc"), filepath.Join(s.Dir, "state")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("testenv/dovecot: %w", err)
		}
	}

	// base_dir: Dir/run, unless that path is too long for the Unix sockets
	// inside it; then a short private directory in os.TempDir(), linked as
	// Dir/run.
	runLink := filepath.Join(s.Dir, "run")
	if err := checkNotRunning(filepath.Join(runLink, masterPIDFile)); err != nil {
		return err
	}
	if err := os.RemoveAll(runLink); err != nil {
		return fmt.Errorf("testenv/dovecot: %w", err)
	}
	if len(runLink) <= maxBaseDirLen {
		s.baseDir = runLink
		if err := os.Mkdir(runLink, 0o755); err != nil {
			return fmt.Errorf("testenv/dovecot: %w", err)
		}
	} else {
		tmp, err := os.MkdirTemp("", "dct-")
		if err != nil {
			return fmt.Errorf("testenv/dovecot: %w", err)
		}
		if len(tmp) > maxBaseDirLen {
			os.Remove(tmp)
			return fmt.Errorf("testenv/dovecot: both %s and %s are too long for Dovecot's Unix sockets; use a shorter Dir or TMPDIR", runLink, tmp)
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return fmt.Errorf("testenv/dovecot: %w", err)
		}
		s.baseDir, s.tmpBaseDir = tmp, tmp
		if err := os.Symlink(tmp, runLink); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("testenv/dovecot: %w", err)
		}
	}

	etc := filepath.Join(s.Dir, "etc")
	if err := ensureCerts(certFiles{
		CA:   s.CAFile,
		Cert: filepath.Join(etc, "cert.pem"),
		Key:  filepath.Join(etc, "key.pem"),
	}); err != nil {
		s.removeTmpBaseDir()
		return fmt.Errorf("testenv/dovecot: certificates: %w", err)
	}
	tc, err := clientTLSConfig(s.CAFile)
	if err != nil {
		s.removeTmpBaseDir()
		return err
	}
	s.TLSConfig = tc
	if err := writePasswd(filepath.Join(etc, "passwd"), s.users); err != nil {
		s.removeTmpBaseDir()
		return fmt.Errorf("testenv/dovecot: %w", err)
	}
	return nil
}

// maxSocketPath is the longest path a Unix socket can have (sun_path is
// 108 bytes on Linux, NUL included).
const maxSocketPath = 107

// checkSocketPath validates an optional extra listener path.
func checkSocketPath(name, path string) error {
	if path == "" {
		return nil
	}
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return fmt.Errorf("testenv/dovecot: %s %q must be a clean absolute path", name, path)
	}
	if len(path) > maxSocketPath {
		return fmt.Errorf("testenv/dovecot: %s %q is longer than a Unix socket path may be (%d bytes)", name, path, maxSocketPath)
	}
	if strings.ContainsAny(path, " \t\r\n\"'{}#$%") {
		return fmt.Errorf("testenv/dovecot: %s %q contains characters dovecot.conf cannot take", name, path)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil || !fi.IsDir() {
		return fmt.Errorf("testenv/dovecot: %s: directory %s does not exist", name, filepath.Dir(path))
	}
	return nil
}

// searchable reports whether dir and every directory above it that exists
// are searchable (o+x) by everyone. A dir that does not exist yet is
// created 0700 by prepare, so it must exist already.
func searchable(dir string) bool {
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

// checkNotRunning refuses to start a second instance on the same Dir.
func checkNotRunning(pidFile string) error {
	pid, err := readPID(pidFile)
	if err != nil || !proc.Exists(pid) {
		return nil
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if len(cmdline) > 0 && !bytes.Contains(cmdline, []byte("dovecot")) {
		return nil // stale pid file, pid reused by something else
	}
	return fmt.Errorf("testenv/dovecot: a Dovecot (pid %d, %s) is still running in this directory", pid, pidFile)
}

func (s *Server) mailIDs() (p confParams, err error) {
	if os.Geteuid() == 0 {
		p.Root = true
		p.MailUID, p.MailGID = 65534, 65534
		if u, err := user.Lookup("nobody"); err == nil {
			if uid, err := strconv.Atoi(u.Uid); err == nil {
				p.MailUID = uid
			}
			if gid, err := strconv.Atoi(u.Gid); err == nil {
				p.MailGID = gid
			}
		}
		return p, nil
	}
	p.MailUID, p.MailGID = os.Geteuid(), os.Getegid()
	u, err := user.LookupId(strconv.Itoa(p.MailUID))
	if err != nil {
		return p, fmt.Errorf("testenv/dovecot: running as uid %d, which has no user name: %v", p.MailUID, err)
	}
	g, err := user.LookupGroupId(strconv.Itoa(p.MailGID))
	if err != nil {
		return p, fmt.Errorf("testenv/dovecot: running as gid %d, which has no group name: %v", p.MailGID, err)
	}
	p.SelfUser, p.SelfGroup = u.Username, g.Name
	return p, nil
}

func (s *Server) start(dovecotPath, listen string) error {
	p, err := s.mailIDs()
	if err != nil {
		return err
	}
	if err := mkHomes(s.homeRoot, s.users, p.MailUID, p.MailGID); err != nil {
		return fmt.Errorf("testenv/dovecot: %w", err)
	}
	p.BaseDir = s.baseDir
	p.StateDir = filepath.Join(s.Dir, "state")
	p.Instance = s.instance
	p.Listen = listen
	p.LogPath = s.LogFile
	p.CertFile = s.CertFile
	p.KeyFile = s.KeyFile
	p.LMTPSocket = s.LMTPSocket
	p.AuthSocket = s.AuthSocket
	p.PasswdFile = filepath.Join(s.Dir, "etc", "passwd")
	p.HomeRoot = s.homeRoot
	p.Prefix, p.Separator, p.MailLocation = s.prefix, s.separator, s.location
	p.IMAPCapability = s.capability
	p.MailFsync = s.fsync
	p.Extra = s.extra
	if s.oauth2URL != "" {
		p.OAuth2Mechanisms = s.oauth2Mech
		if p.OAuth2Mechanisms == "" {
			p.OAuth2Mechanisms = "xoauth2 oauthbearer"
		}
		p.OAuth2File = filepath.Join(s.Dir, "etc", "oauth2.conf")
		conf := "introspection_mode = post\nintrospection_url = " + s.oauth2URL + "\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n"
		if err := os.WriteFile(p.OAuth2File, []byte(conf), 0o644); err != nil {
			return fmt.Errorf("testenv/dovecot: %w", err)
		}
	}
	if p.MailFsync == "" {
		p.MailFsync = "never"
	}
	if p.Separator == "" {
		p.Separator = "/"
	}
	if p.MailLocation == "" {
		p.MailLocation = "maildir:~/Maildir:LAYOUT=fs"
	}

	var lastErr error
	for attempt := 0; attempt < bindAttempts; attempt++ {
		ports, err := freePorts(listen, 2)
		if err != nil {
			return fmt.Errorf("testenv/dovecot: finding free ports: %w", err)
		}
		p.IMAPPort, p.IMAPSPort = ports[0], ports[1]
		s.IMAPAddr = net.JoinHostPort(listen, strconv.Itoa(p.IMAPPort))
		s.IMAPSAddr = net.JoinHostPort(listen, strconv.Itoa(p.IMAPSPort))
		conf, err := renderConfig(p)
		if err != nil {
			return err
		}
		if err := os.WriteFile(s.ConfigFile, conf, 0o600); err != nil {
			return fmt.Errorf("testenv/dovecot: %w", err)
		}
		err = s.launch(dovecotPath)
		if err == nil {
			return nil
		}
		lastErr = err
		if !errors.Is(err, errAddrInUse) {
			return err
		}
		// Another process took one of the ports between our probe and
		// Dovecot's bind: try other ports.
	}
	return fmt.Errorf("testenv/dovecot: giving up after %d port conflicts: %w", bindAttempts, lastErr)
}

var errAddrInUse = errors.New("address already in use")

// freePorts returns n distinct ports that were free on ip a moment ago.
func freePorts(ip string, n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// launch runs "dovecot -F" as a child in its own process group and waits
// until it serves IMAP.
func (s *Server) launch(dovecotPath string) error {
	errFile, err := os.OpenFile(s.stderrPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("testenv/dovecot: %w", err)
	}
	exited := make(chan struct{})
	started := make(chan error, 1)
	go func() {
		// Keep this goroutine on its OS thread until Dovecot is reaped: the
		// parent-death signal (see procAttr) is bound to the thread that
		// forked the child, and an exiting thread would stop Dovecot.
		runtime.LockOSThread()
		cmd := exec.Command(dovecotPath, "-F", "-c", s.ConfigFile)
		cmd.Dir = s.Dir
		cmd.Stdout, cmd.Stderr = errFile, errFile
		cmd.SysProcAttr = procAttr()
		if err := cmd.Start(); err != nil {
			errFile.Close()
			started <- err
			close(exited)
			runtime.UnlockOSThread()
			return
		}
		s.pid = cmd.Process.Pid
		started <- nil
		s.exitErr = cmd.Wait()
		errFile.Close()
		close(exited)
		// The goroutine exits still locked: Go retires the thread, which
		// is fine (Dovecot is gone).
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("testenv/dovecot: starting %s: %w", dovecotPath, err)
	}
	s.exited = exited

	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for {
		select {
		case <-exited:
			out, _ := os.ReadFile(s.stderrPath)
			msg := strings.TrimSpace(string(out))
			if strings.Contains(msg, "Address already in use") {
				return fmt.Errorf("testenv/dovecot: %s: %w", msg, errAddrInUse)
			}
			return fmt.Errorf("testenv/dovecot: dovecot exited during startup (%v): %s\n%s", s.exitErr, msg, s.LogTail(20))
		default:
		}
		if lastErr = s.probe(); lastErr == nil {
			return nil
		}
		if time.Now().After(deadline) {
			s.kill()
			return fmt.Errorf("testenv/dovecot: Dovecot did not serve IMAP within %v: %v\n%s", startTimeout, lastErr, s.LogTail(20))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// probe succeeds once the master has written its pid file and the implicit
// TLS listener sends Dovecot's real greeting (the one with capabilities,
// not "Waiting for authentication process").
func (s *Server) probe() error {
	if pid, err := readPID(filepath.Join(s.baseDir, masterPIDFile)); err != nil || pid != s.pid {
		return fmt.Errorf("no %s for pid %d yet", masterPIDFile, s.pid)
	}
	d := &net.Dialer{Timeout: time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", s.IMAPSAddr, s.TLSConfig)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("reading greeting: %w", err)
		}
		if !strings.HasPrefix(line, "* OK") {
			return fmt.Errorf("unexpected greeting %q", line)
		}
		if strings.Contains(line, "[CAPABILITY ") {
			conn.Write([]byte("x LOGOUT\r\n"))
			return nil
		}
	}
}

func readPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// PID returns the process id of the instance's Dovecot master, which is also
// the process group of all its processes.
func (s *Server) PID() int { return s.pid }

// Stop stops the instance: SIGTERM to the master named in base_dir's
// master.pid, a bounded wait, then SIGKILL to the whole process group. It
// returns once no process of the instance is left. Calling it again returns
// the first result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	defer s.removeTmpBaseDir()
	var errs []error
	pid := s.pid
	select {
	case <-s.exited:
		// Already reaped: the pid may belong to someone else by now.
		errs = append(errs, fmt.Errorf("dovecot had already exited (%v): %s", s.exitErr, lastLine(s.LogTail(5))))
	default:
		filePID, err := readPID(filepath.Join(s.baseDir, masterPIDFile))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("reading %s: %v (signalling the master started by the harness instead)", masterPIDFile, err))
		case filePID != pid:
			// Never signal a process the harness did not start.
			errs = append(errs, fmt.Errorf("%s names pid %d, but this instance's master is %d", masterPIDFile, filePID, pid))
		}
		if err := proc.Signal(pid, syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
		// The master alone would wait up to a few seconds for logged-in
		// imap processes and then exit leaving them (and log, auth,
		// anvil...) running. Every Dovecot process exits cleanly on
		// SIGTERM, so tell them all at once.
		proc.SignalGroup(pid, syscall.SIGTERM)
	}
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		errs = append(errs, fmt.Errorf("dovecot (pid %d) ignored SIGTERM for %v; killed", pid, stopTimeout))
		proc.SignalGroup(pid, syscall.SIGKILL)
		select {
		case <-s.exited:
		case <-time.After(killTimeout):
			return fmt.Errorf("testenv/dovecot: stop: dovecot (pid %d) survived SIGKILL", pid)
		}
	}
	// The master is reaped; wait for the rest of the group.
	if !proc.WaitGroupGone(pid, killTimeout) {
		errs = append(errs, fmt.Errorf("processes of group %d ignored SIGTERM for %v; killed", pid, killTimeout))
		proc.SignalGroup(pid, syscall.SIGKILL)
		if !proc.WaitGroupGone(pid, killTimeout) {
			errs = append(errs, fmt.Errorf("processes of group %d survived SIGKILL", pid))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("testenv/dovecot: stop: %w", errors.Join(errs...))
	}
	return nil
}

// kill ends a failed start.
func (s *Server) kill() {
	proc.SignalGroup(s.pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(killTimeout):
	}
}

func (s *Server) removeTmpBaseDir() {
	if s.tmpBaseDir != "" {
		os.RemoveAll(s.tmpBaseDir)
	}
}

// Home is a user's home directory (mail processes see it as the home;
// files put there must belong to MailOwner).
func (s *Server) Home(user string) string { return filepath.Join(s.homeRoot, user) }

// MailOwner is the uid and gid Dovecot reads and writes mail as.
func (s *Server) MailOwner() (uid, gid int) {
	p, _ := s.mailIDs()
	return p.MailUID, p.MailGID
}

// Password returns the password of user ("" for an unknown user).
func (s *Server) Password(user string) string { return s.users[user] }

// Users returns the user names of the instance.
func (s *Server) Users() []string {
	names := make([]string, 0, len(s.users))
	for u := range s.users {
		names = append(names, u)
	}
	return names
}

// Dial returns a client logged in as user over the implicit TLS listener.
// The caller closes it (Logout or Close).
func (s *Server) Dial(user string) (*imapclient.Client, error) {
	c, err := imapclient.DialTLS(s.IMAPSAddr, &imapclient.Options{TLSConfig: s.TLSConfig.Clone()})
	if err != nil {
		return nil, fmt.Errorf("testenv/dovecot: dial %s: %w", s.IMAPSAddr, err)
	}
	if err := c.Login(user, s.Password(user)).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("testenv/dovecot: login as %q: %w", user, err)
	}
	return c, nil
}

// Doveadm runs doveadm against this instance ("doveadm -c dovecot.conf
// args...") and returns its combined output.
func (s *Server) Doveadm(args ...string) ([]byte, error) {
	cmd := exec.Command(s.doveadm, append([]string{"-c", s.ConfigFile}, args...)...)
	cmd.Dir = s.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("testenv/dovecot: doveadm %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// LogTail returns the last n lines (n <= 0: 50) of Dovecot's log, followed by
// anything the master wrote to its stderr, for failure messages.
func (s *Server) LogTail(n int) string {
	if n <= 0 {
		n = 50
	}
	var parts []string
	if b, err := os.ReadFile(s.LogFile); err == nil {
		parts = append(parts, tailLines(string(b), n))
	} else {
		parts = append(parts, fmt.Sprintf("(no log: %v)", err))
	}
	if b, err := os.ReadFile(s.stderrPath); err == nil && len(bytes.TrimSpace(b)) > 0 {
		parts = append(parts, "stderr: "+tailLines(string(b), n))
	}
	return strings.Join(parts, "\n")
}

func tailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
