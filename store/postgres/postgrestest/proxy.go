package postgrestest

import (
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lib/pq"
)

// Proxy is a TCP proxy on loopback between the code under test and
// PostgreSQL, which the test drives: it cuts every connection through it at
// once, refuses new ones for a while, and lets them through again. That is
// how a test meets a database restart, a failover or a network partition
// without touching the shared server, in the spirit of Shopify's
// toxiproxy.
//
//	schema := postgrestest.New(t)
//	proxy := postgrestest.NewProxy(t, schema.URL)
//	db := sqlx.MustOpen("postgres", proxy.URL) // the code under test connects through it
//	...
//	proxy.Refuse() // the database is "down": new connections are reset
//	proxy.Cut()    // and every open one is cut; sessions end, their locks are freed
//	...
//	proxy.Allow()  // it is back
//
// Cutting a connection closes both of its sides: the client reads EOF or
// a reset, and the server ends the session (rolling back its transaction
// and freeing its advisory locks) as soon as it notices, which is at once
// on loopback.
type Proxy struct {
	// URL is the database URL given to NewProxy with its host and port
	// replaced by the proxy's: connect through it.
	URL string

	target string
	ln     net.Listener

	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	refusing bool
	accepted int
	wg       sync.WaitGroup
}

// NewProxy starts a proxy to the database dsn names (a URL or a key=value
// connection string, one host), and stops it, cutting every connection,
// when t ends.
func NewProxy(t testing.TB, dsn string) *Proxy {
	t.Helper()
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		t.Fatalf("postgrestest: proxy: parse the connection string: %v", err)
	}
	host, port := cfg.Host, cfg.Port
	if host == "" {
		host = "localhost"
	}
	if port == 0 {
		port = 5432
	}
	if strings.Contains(host, ",") || strings.HasPrefix(host, "/") {
		t.Fatalf("postgrestest: proxy: %q is not one TCP host", host)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("postgrestest: proxy: %v", err)
	}
	p := &Proxy{
		URL:    withAddress(dsn, ln.Addr().(*net.TCPAddr)),
		target: net.JoinHostPort(host, strconv.Itoa(int(port))),
		ln:     ln,
		conns:  map[net.Conn]struct{}{},
	}
	p.wg.Go(p.serve)
	t.Cleanup(p.close)
	return p
}

// withAddress points dsn at addr.
func withAddress(dsn string, addr *net.TCPAddr) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Host = addr.String()
		return u.String()
	}
	// In a key=value string the last value of a key wins.
	return dsn + " host=" + addr.IP.String() + " port=" + strconv.Itoa(addr.Port)
}

// Refuse makes the proxy reset every new connection at once, as a database
// that is down would refuse it, until Allow. Open connections are left
// alone: Cut them too for a database that went away.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusing = true
}

// Allow lets new connections through again.
func (p *Proxy) Allow() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refusing = false
}

// Cut closes every open connection through the proxy, both sides, and
// returns how many client connections it cut.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	n := len(p.conns) / 2
	clear(p.conns)
	return n
}

// Accepted returns how many connections the proxy let through so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

func (p *Proxy) close() {
	p.ln.Close()
	p.Cut()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		p.mu.Lock()
		refusing := p.refusing
		p.mu.Unlock()
		if refusing {
			if tcp, ok := client.(*net.TCPConn); ok {
				tcp.SetLinger(0) // a reset, not a clean close
			}
			client.Close()
			continue
		}
		p.wg.Go(func() { p.pipe(client) })
	}
}

// pipe connects client to the target until either side closes or Cut.
func (p *Proxy) pipe(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	if p.refusing { // refused while dialling
		p.mu.Unlock()
		client.Close()
		server.Close()
		return
	}
	p.conns[client], p.conns[server] = struct{}{}, struct{}{}
	p.accepted++
	p.mu.Unlock()

	var wg sync.WaitGroup
	copyThenClose := func(dst, src net.Conn) {
		io.Copy(dst, src)
		// One direction ended: end the other, as a socket does.
		dst.Close()
		src.Close()
	}
	wg.Go(func() { copyThenClose(server, client) })
	wg.Go(func() { copyThenClose(client, server) })
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, client)
	delete(p.conns, server)
	p.mu.Unlock()
}
