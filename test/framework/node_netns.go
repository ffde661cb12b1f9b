package framework

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The node lives in a network and mount namespace of its own, held by one anchor process
// (unshare ... sleep). Every node process joins both with nsenter, so that the node's address,
// its pods' bridge, kube-proxy's iptables rules and every mount containerd and the kubelet
// make exist only there, and vanish with the last process of the run. The test process and
// kubectl reach the apiserver through a forwarder on 127.0.0.1 that dials into the namespace.

// anchor is the process that holds the node's namespaces.
type anchor struct {
	cmd *exec.Cmd
}

func startAnchor() (*anchor, error) {
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "slave", "--", "sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the node's namespace holder (unshare): %w", err)
	}
	a := &anchor{cmd: cmd}
	// unshare makes the namespaces, then execs sleep: once the process is sleep, they exist.
	exe := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe"
	for range 500 {
		if p, err := os.Readlink(exe); err == nil && filepath.Base(p) == "sleep" {
			return a, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	a.stop()
	return nil, errors.New("the node's namespace holder did not enter its namespaces")
}

func (a *anchor) pid() int { return a.cmd.Process.Pid }

// command is name run inside the node's namespaces.
func (a *anchor) command(name string, args ...string) *exec.Cmd {
	full := append([]string{"--target", strconv.Itoa(a.pid()), "--net", "--mount", "--", name}, args...)
	return exec.Command("nsenter", full...)
}

// run runs name inside the node's namespaces and returns an error with its output on failure.
func (a *anchor) run(name string, args ...string) error {
	out, err := a.command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %v: %w: %s", name, args, err, out)
	}
	return nil
}

func (a *anchor) stop() {
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
}

// dialer dials from inside the node's network namespace: the socket is made on an OS thread
// switched into that namespace, and keeps it after the thread switches back.
type dialer struct {
	nsPath string
}

func (d dialer) DialContext(ctx context.Context, network, addr string) (c net.Conn, err error) {
	if nsErr := inNetns(d.nsPath, func() {
		var nd net.Dialer
		c, err = nd.DialContext(ctx, network, addr)
	}); nsErr != nil {
		return nil, nsErr
	}
	return c, err
}

// Listen opens a listener inside the node's network namespace.
func (d dialer) Listen(network, addr string) (ln net.Listener, err error) {
	if nsErr := inNetns(d.nsPath, func() { ln, err = net.Listen(network, addr) }); nsErr != nil {
		return nil, nsErr
	}
	return ln, err
}

// inNetns runs fn on an OS thread switched into the network namespace at nsPath; a socket fn
// makes keeps that namespace after the thread switches back.
func inNetns(nsPath string, fn func()) error {
	ch := make(chan error, 1)
	go func() {
		// The thread is locked and never unlocked on failure to switch back: the runtime then
		// ends it rather than let another goroutine run in the wrong namespace.
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- err
			return
		}
		defer orig.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			ch <- fmt.Errorf("opening the node's network namespace: %w", err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("entering the node's network namespace: %w", err)
			return
		}
		fn()
		ch <- nil
		if unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return <-ch
}

// forwarder accepts on 127.0.0.1 and connects each connection to target inside the node.
type forwarder struct {
	ln     net.Listener
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func startForwarder(d dialer, target string) (*forwarder, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &forwarder{ln: ln, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.pipe(c, d, target)
			}()
		}
	}()
	return f, nil
}

func (f *forwarder) track(c net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.conns[c] = struct{}{}
	return true
}

func (f *forwarder) pipe(c net.Conn, d dialer, target string) {
	defer c.Close()
	up, err := d.DialContext(context.Background(), "tcp", target)
	if err != nil {
		return
	}
	defer up.Close()
	if !f.track(c) || !f.track(up) {
		return
	}
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	<-done
	f.mu.Lock()
	delete(f.conns, c)
	delete(f.conns, up)
	f.mu.Unlock()
}

// Port is the forwarder's port on 127.0.0.1.
func (f *forwarder) port() int { return f.ln.Addr().(*net.TCPAddr).Port }

func (f *forwarder) close() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	_ = f.ln.Close()
	f.wg.Wait()
}
