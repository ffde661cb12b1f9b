// Command testimage is the one program behind every test image of the local node
// (hack/image testimages packs it several times with different users and modes). The node has
// no registry to pull from, so the workloads the tests and the samples run are this program:
// the pod sandbox's pause, a CPU-burning "miner", an HTTP server run as root, as a numeric or a
// named non-root user, and a program that writes to its root file system. The samples' images
// (an nginx-unprivileged and an agnhost netexec) are stood in for by the server, under the same
// names, with the user and port the samples rely on. fetch is a client, for tests to run in a
// pod with kubectl exec.
//
// The mode is the first argument or, without one, $TESTIMAGE_MODE: pause, miner, serve,
// writer, fetch; `netexec --http-port=N` is serve on N. serve and writer listen on :8080 unless
// --port (or --http-port) and --host say otherwise; `fetch URL` GETs URL once.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	mode := os.Getenv("TESTIMAGE_MODE")
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		mode, args = args[0], args[1:]
	}
	var err error
	switch mode {
	case "pause":
		pause()
	case "miner":
		err = miner(args)
	case "serve", "netexec":
		err = serve(args)
	case "writer":
		err = writer(args)
	case "fetch":
		err = fetch(args)
	default:
		err = fmt.Errorf("unknown mode %q: want pause, miner, serve, netexec, writer or fetch", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "testimage:", err)
		os.Exit(1)
	}
}

// pause waits for SIGTERM or SIGINT and reaps the children it inherits as a sandbox's PID 1.
func pause() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	fmt.Println("paused until SIGTERM or SIGINT")
	for s := range sig {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}

// miner spins on --threads goroutines forever, as a crypto miner takes every cycle it is given.
func miner(args []string) error {
	fs := flag.NewFlagSet("miner", flag.ContinueOnError)
	threads := fs.Int("threads", 4, "busy goroutines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	runtime.GOMAXPROCS(*threads)
	var sink atomic.Uint64
	for range *threads {
		go func() {
			x := uint64(1)
			for {
				for range 1 << 20 {
					x = x*6364136223846793005 + 1442695040888963407
				}
				sink.Store(x)
			}
		}()
	}
	fmt.Println("mining on", *threads, "threads")
	select {}
}

// serve answers every request with 200 and the process's uid, until SIGTERM or SIGINT.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	host := fs.String("host", "", "address to listen on (default: every interface)")
	port := fs.Int("port", 8080, "TCP port")
	fs.IntVar(port, "http-port", 8080, "TCP port (agnhost netexec's flag)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	addr := net.JoinHostPort(*host, strconv.Itoa(*port))
	srv := &http.Server{
		Addr:              addr,
		ReadHeaderTimeout: 5 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprintf(w, "ok uid=%d\n", os.Getuid())
		}),
	}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		_ = srv.Close()
	}()
	fmt.Printf("serving on %s as uid %d\n", addr, os.Getuid())
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// writer writes --file every second and serves HTTP while the writes succeed: it exits 1,
// naming the file, at the first write that fails (a read-only root file system), so the
// server never answers after a failed write.
func writer(args []string) error {
	fs := flag.NewFlagSet("writer", flag.ContinueOnError)
	file := fs.String("file", "/data/data.txt", "file written every second")
	host := fs.String("host", "", "address to listen on (default: every interface)")
	port := fs.Int("port", 8080, "TCP port")
	if err := fs.Parse(args); err != nil {
		return err
	}
	write := func() error {
		if err := os.WriteFile(*file, []byte(time.Now().Format(time.RFC3339Nano)+"\n"), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", *file, err)
		}
		return nil
	}
	if err := write(); err != nil {
		return err
	}
	errs := make(chan error, 2)
	go func() {
		for range time.Tick(time.Second) {
			if err := write(); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() { errs <- serve([]string{"--host", *host, "--port", strconv.Itoa(*port)}) }()
	return <-errs
}

// fetch GETs its one argument, a URL, on a new connection within --timeout, and prints the
// status and the body: it fails unless the answer is 200.
func fetch(args []string) error {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 3*time.Second, "for the whole request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("fetch wants one URL")
	}
	c := &http.Client{Timeout: *timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(fs.Arg(0))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	fmt.Printf("%s\n%s", resp.Status, body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", fs.Arg(0), resp.Status)
	}
	return nil
}
