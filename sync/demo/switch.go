package demo

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// Switch is a TCP forwarder in front of a demo server that can be turned
// off, to play a provider outage: while off it refuses new connections and
// cuts the open ones.
type Switch struct {
	Addr string

	ln     net.Listener
	target string
	off    atomic.Bool
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
}

// NewSwitch forwards a new 127.0.0.1 port to target.
func NewSwitch(target string) (*Switch, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Switch{Addr: ln.Addr().String(), ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go s.serve()
	return s, nil
}

func (s *Switch) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		if s.off.Load() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", s.target)
		if err != nil {
			c.Close()
			continue
		}
		s.track(c, up)
		go func() { io.Copy(up, c); up.Close() }()
		go func() { io.Copy(c, up); c.Close(); s.untrack(c, up) }()
	}
}

func (s *Switch) track(cs ...net.Conn) {
	s.mu.Lock()
	for _, c := range cs {
		s.conns[c] = struct{}{}
	}
	s.mu.Unlock()
}

func (s *Switch) untrack(cs ...net.Conn) {
	s.mu.Lock()
	for _, c := range cs {
		delete(s.conns, c)
	}
	s.mu.Unlock()
}

// SetDown turns the provider off (true) or on again.
func (s *Switch) SetDown(down bool) {
	s.off.Store(down)
	if down {
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.conns = map[net.Conn]struct{}{}
		s.mu.Unlock()
	}
}

// Down reports whether the switch is off.
func (s *Switch) Down() bool { return s.off.Load() }

// Close stops forwarding.
func (s *Switch) Close() error { return s.ln.Close() }
