package faultfs

// The server process: it mounts the file system, and answers control
// requests, one JSON object per line each way, on a Unix socket.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// request is one control command. Cmd is one of ping, power-loss,
// fsync-error, enospc, slow-io, reset, stats, mark, recording, shutdown.
type request struct {
	Cmd    string        `json:"cmd"`
	Mode   PowerLossMode `json:"mode,omitempty"`
	Seed   uint64        `json:"seed,omitempty"`
	Nth    int64         `json:"nth,omitempty"`
	Sticky bool          `json:"sticky,omitempty"`
	Budget int64         `json:"budget,omitempty"`
	Delay  Delay         `json:"delay"`
}

type response struct {
	OK        bool       `json:"ok"`
	Error     string     `json:"error,omitempty"`
	Stats     *Stats     `json:"stats,omitempty"`
	Recording *Recording `json:"recording,omitempty"`
}

type server struct {
	st         *state
	mountpoint string
	log        *slog.Logger
	ctl        sync.Mutex // one control command at a time
	fuse       *fuse.Server
	gen        *generation
	done       chan struct{} // closed by shutdown
	doneOnce   sync.Once
}

// ServeMain runs the fault file system server: it mounts --backing at
// --mountpoint, serves control requests on --socket, and unmounts when told
// to shut down, on SIGTERM, SIGINT or SIGHUP, or when ctx ends. It returns
// the process exit code. Programs expose it as a hidden subcommand (chaos
// __faultfs) and Start runs that subcommand.
func ServeMain(ctx context.Context, args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("faultfs", flag.ContinueOnError)
	flags.SetOutput(stderr)
	backing := flags.String("backing", "", "directory holding the files")
	mountpoint := flags.String("mountpoint", "", "where to mount")
	socket := flags.String("socket", "", "control socket path")
	debug := flags.Bool("debug", false, "log every FUSE request")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil)).With("component", "faultfs")
	if *backing == "" || *mountpoint == "" || *socket == "" {
		logger.Error("--backing, --mountpoint and --socket are required")
		return 2
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	if err := serve(ctx, *backing, *mountpoint, *socket, *debug, logger); err != nil {
		logger.Error("serve", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, backing, mountpoint, socket string, debug bool, logger *slog.Logger) error {
	st, err := newState(backing)
	if err != nil {
		return err
	}
	sv := &server{st: st, mountpoint: mountpoint, log: logger, done: make(chan struct{})}
	if err := sv.mount(debug); err != nil {
		return err
	}
	defer func() {
		sv.ctl.Lock() // a power loss may be remounting
		defer sv.ctl.Unlock()
		sv.unmount()
	}()
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return fmt.Errorf("faultfs: listen %s: %w", socket, err)
	}
	defer ln.Close()
	logger.Info("mounted", "backing", backing, "mountpoint", mountpoint, "socket", socket)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go sv.handle(c)
		}
	}()
	select {
	case <-ctx.Done():
	case <-sv.done:
	}
	logger.Info("unmounting", "mountpoint", mountpoint)
	return nil
}

func (sv *server) mount(debug bool) error {
	sv.gen = &generation{}
	root, err := newRoot(sv.st, sv.gen)
	if err != nil {
		return fmt.Errorf("faultfs: mount: %w", err)
	}
	// Every change goes through this mount, so the kernel may cache pages,
	// attributes and names; a power loss remounts, which drops them all.
	cache := time.Second
	opts := &fs.Options{EntryTimeout: &cache, AttrTimeout: &cache, NegativeTimeout: &cache, MountOptions: fuse.MountOptions{
		DirectMount: true, DirectMountStrict: true, FsName: "faultfs", Name: "faultfs", Debug: debug,
		Logger: log.New(io.Discard, "", 0),
	}}
	if debug {
		opts.Logger = log.Default()
	}
	srv, err := fs.Mount(sv.mountpoint, root, opts)
	if err != nil {
		return fmt.Errorf("faultfs: mount %s: %w", sv.mountpoint, err)
	}
	sv.fuse = srv
	return nil
}

// unmount ends the mount's generation, so descriptors still open on it
// fail with EIO and change nothing, then unmounts. The kernel releases a
// killed process's files asynchronously, so a busy mount is retried for a
// second before it is detached (umount -l); the detached connection is
// served, with EIO, until its last descriptor closes.
func (sv *server) unmount() {
	if sv.fuse == nil {
		return
	}
	sv.st.mu.Lock()
	sv.gen.dead.Store(true)
	sv.st.mu.Unlock()
	srv := sv.fuse
	sv.fuse = nil
	deadline := time.Now().Add(time.Second)
	for {
		err := srv.Unmount()
		if err == nil {
			srv.Wait()
			return
		}
		if time.Now().After(deadline) {
			sv.log.Warn("mount busy: detaching", "mountpoint", sv.mountpoint, "err", err)
			if err := Unmount(sv.mountpoint); err != nil {
				sv.log.Error("detach", "err", err)
			}
			go srv.Wait()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (sv *server) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	enc := json.NewEncoder(c)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			return
		}
		var req request
		var resp response
		if err := json.Unmarshal(line, &req); err != nil {
			resp.Error = fmt.Sprintf("bad request: %v", err)
		} else {
			resp = sv.do(req)
		}
		if err := enc.Encode(resp); err != nil {
			return
		}
		if req.Cmd == "shutdown" && resp.OK {
			sv.doneOnce.Do(func() { close(sv.done) })
			return
		}
	}
}

func (sv *server) do(req request) response {
	sv.ctl.Lock()
	defer sv.ctl.Unlock()
	st := sv.st
	var resp response
	err := func() error {
		switch req.Cmd {
		case "ping":
		case "power-loss":
			return sv.powerLoss(req.Mode, req.Seed)
		case "fsync-error":
			st.mu.Lock()
			st.faults.fsyncFail, st.faults.fsyncSticky, st.faults.fsyncSeen = req.Nth, req.Sticky, 0
			st.mu.Unlock()
		case "enospc":
			st.mu.Lock()
			st.faults.budget, st.faults.used = req.Budget, 0
			st.mu.Unlock()
		case "slow-io":
			st.mu.Lock()
			st.faults.delay, st.faults.rng = req.Delay, newRand(req.Seed, 1)
			st.mu.Unlock()
		case "reset":
			st.mu.Lock()
			st.faults = faults{budget: -1}
			st.mu.Unlock()
		case "stats":
			st.mu.Lock()
			s := st.statsNow()
			st.mu.Unlock()
			resp.Stats = &s
		case "mark":
			st.mu.Lock()
			st.mark()
			st.mu.Unlock()
		case "recording":
			st.mu.Lock()
			rec, err := st.recording()
			st.mu.Unlock()
			resp.Recording = rec
			return err
		case "shutdown":
		default:
			return fmt.Errorf("unknown command %q", req.Cmd)
		}
		return nil
	}()
	if err != nil {
		resp.Error = err.Error()
	} else {
		resp.OK = true
	}
	return resp
}

// powerLoss unmounts (so no kernel cache survives), rewrites the backing
// directory to the crash state, and mounts again.
func (sv *server) powerLoss(mode PowerLossMode, seed uint64) error {
	if mode != LoseUnsynced && mode != Torn {
		return fmt.Errorf("unknown power-loss mode %q (want %s or %s)", mode, LoseUnsynced, Torn)
	}
	sv.unmount()
	sv.st.mu.Lock()
	err := sv.st.powerLoss(mode, seed)
	sv.st.mu.Unlock()
	if mErr := sv.mount(false); mErr != nil {
		return errors.Join(err, mErr)
	}
	sv.log.Info("power loss", "mode", mode, "seed", seed)
	return err
}
