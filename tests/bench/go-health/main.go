// go-health: the peer server of `make bench`, containerd's Go ttRPC server (Debian's
// golang-github-containerd-ttrpc-dev 1.1.1, built in GOPATH mode by tests/bench/run) serving
// grpc.Health/Check on a Unix socket with HealthCheckResponse{status: SERVING}.
//
// The messages are encoded by hand: ttrpc 1.1.1's codec hands any value with gogo-style
// Marshal()/Unmarshal() methods to them, so the reply payload is the same two bytes our agent
// sends (08 01) without generated code. Nothing is tuned: GOMAXPROCS, GOGC and the rest are Go's
// defaults, as in a Go binary that sets none of them; it prints GOMAXPROCS at start.
//
//	go-health SOCKET
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"syscall"

	"github.com/containerd/ttrpc"
)

// checkRequest is grpc.CheckRequest{service=1}; the bench sends it empty and it is not read.
type checkRequest struct{ raw []byte }

func (m *checkRequest) Reset()                   { m.raw = nil }
func (m *checkRequest) String() string           { return fmt.Sprintf("CheckRequest(%x)", m.raw) }
func (m *checkRequest) ProtoMessage()            {}
func (m *checkRequest) Marshal() ([]byte, error) { return m.raw, nil }
func (m *checkRequest) Unmarshal(b []byte) error { m.raw = b; return nil }

// checkResponse is grpc.HealthCheckResponse{status=1 (SERVING)}: field 1, varint 1.
type checkResponse struct{}

var serving = []byte{0x08, 0x01}

func (m *checkResponse) Reset()                   {}
func (m *checkResponse) String() string           { return "HealthCheckResponse{status: SERVING}" }
func (m *checkResponse) ProtoMessage()            {}
func (m *checkResponse) Marshal() ([]byte, error) { return serving, nil }
func (m *checkResponse) Unmarshal(b []byte) error { return nil }

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-health SOCKET")
		os.Exit(2)
	}
	path := os.Args[1]
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-health:", err)
		os.Exit(1)
	}
	srv, err := ttrpc.NewServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-health:", err)
		os.Exit(1)
	}
	srv.Register("grpc.Health", map[string]ttrpc.Method{
		"Check": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			var req checkRequest
			if err := unmarshal(&req); err != nil {
				return nil, err
			}
			return &checkResponse{}, nil
		},
	})
	// The bench prints what Go chose: GOMAXPROCS is left to the runtime's default.
	fmt.Fprintf(os.Stderr, "go-health: gomaxprocs=%d numcpu=%d\n", runtime.GOMAXPROCS(0),
		runtime.NumCPU())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-sig
		l.Close()
		os.Remove(path)
		os.Exit(0)
	}()
	if err := srv.Serve(context.Background(), l); err != nil {
		fmt.Fprintln(os.Stderr, "go-health:", err)
	}
}
