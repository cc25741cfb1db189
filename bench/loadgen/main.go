// Command loadgen is the load generator of bpfnet's benchmark harness. The
// same binary drives every system under test, so differences in the numbers
// come from the dataplane, not from the tool.
//
//	loadgen server -listen ADDR            echo server (TCP)
//	loadgen rr  -connect ADDR -duration D  1-byte ping-pong on one connection
//	loadgen crr -connect ADDR -duration D  connect, 1-byte exchange, close, repeat
//	loadgen udpserver -listen ADDR         echo server (UDP, unconnected)
//	loadgen udp -connect ADDR -duration D  1-byte datagram ping-pong, unconnected
//
// Common flags: -netns PATH enters that network namespace before any socket
// is made; -cpu N pins every thread of the process to CPU N (the harness pins
// client and server to the same CPU). Clients print one JSON line.
//
// All socket work uses blocking system calls on one locked OS thread, the
// way netperf does it: no netpoller, no goroutine hand-offs, so a round trip
// costs two system calls on each side and nothing else from the Go runtime.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/bpfnet/bpfnet/kernel"
	"golang.org/x/sys/unix"
)

func main() {
	// Everything runs on this thread: it is the one that enters the network
	// namespace, and sockets belong to the namespace they are created in.
	runtime.LockOSThread()
	// Blocking calls hold their P (see rawio.go): keep one more for timers.
	runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))

	if len(os.Args) < 2 {
		usage()
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	netnsPath := fs.String("netns", "", "enter the network namespace at `PATH` first")
	cpu := fs.Int("cpu", -1, "pin all threads to CPU `N` (and GOMAXPROCS=1)")
	listen := fs.String("listen", ":7000", "server: address to listen on")
	connect := fs.String("connect", "", "client: `ADDR` (ip:port) of the server")
	duration := fs.Duration("duration", 3*time.Second, "client: how long to run")
	linger0 := fs.Bool("linger0", false, "crr: close with RST (SO_LINGER 0) instead of FIN")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}

	run := func() error {
		if *cpu >= 0 {
			if err := pinProcess(*cpu); err != nil {
				return err
			}
		}
		switch cmd {
		case "server":
			return serve(*listen)
		case "udpserver":
			return serveUDP(*listen)
		case "rr", "crr", "udp":
			return runClient(cmd, *connect, *duration, *linger0)
		}
		usage()
		return nil
	}
	var err error
	if *netnsPath != "" {
		// Every socket run makes is made on this thread, inside the
		// namespace.
		err = kernel.DoPath(*netnsPath, run)
	} else {
		err = run()
	}
	fail(err)
}

// runClient runs the rr, crr or udp client against connect and prints its
// result.
func runClient(cmd, connect string, duration time.Duration, linger0 bool) error {
	if connect == "" {
		return fmt.Errorf("-connect is required")
	}
	sa, err := parseAddr(connect)
	if err != nil {
		return err
	}
	if duration <= 0 || duration > 10*time.Minute {
		return fmt.Errorf("-duration %v out of range (0, 10m]", duration)
	}
	// A watchdog bounds the run even if the peer stops answering while
	// this thread is blocked in a system call.
	time.AfterFunc(duration+15*time.Second, func() {
		fmt.Fprintln(os.Stderr, "loadgen: watchdog: no progress, giving up")
		os.Exit(3)
	})
	var res result
	switch cmd {
	case "rr":
		res, err = runRR(sa, duration)
	case "udp":
		res, err = runUDP(sa, duration)
	default:
		res, err = runCRR(sa, duration, linger0)
	}
	if err != nil {
		return err
	}
	res.print()
	return nil
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s server|udpserver|rr|crr|udp [flags]; %s CMD -h for flags\n",
		filepath.Base(os.Args[0]), filepath.Base(os.Args[0]))
	os.Exit(2)
}

func fail(err error) {
	if err == nil {
		os.Exit(0)
	}
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}

// pinProcess pins every thread that exists now to cpu; threads made later
// inherit the mask of the thread that makes them, so the whole process stays
// on cpu.
func pinProcess(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("list threads: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
			return fmt.Errorf("pin thread %d to cpu %d: %w", tid, cpu, err)
		}
	}
	return nil
}
