// Command load is airpy's load test (`make load`): bounded, loopback only, and it stops by
// itself. It starts its own `airpy serve` (embedded Redis, workers) on 127.0.0.1 with data
// under a temporary directory, warms it up, then for a fixed duration runs at once:
//
//   - -watchers WatchJob subscribers on long jobs (full InferSchema scans of a generated CSV),
//     each subscribing again to a live one when its job ends;
//   - a steady stream of job submissions (Discover and Query, alternately) at -submit-rate;
//   - GetJob polls at -getjob-rate, following every submitted job to its end;
//   - -fetchers concurrent FetchResult streams of a large query result (tens of MB), each read
//     fully and decoded with arrow-go's IPC reader.
//
// It prints a table and writes JSON (-out): calls per RPC, errors by status code, p50/p99
// latency of GetJob and of submission, jobs completed per second, and the server process's
// RSS, threads and open files after the warm-up and at the end. It exits 1 when an error other
// than an intended one appears (RESOURCE_EXHAUSTED from the per-caller queued-jobs cap is
// intended; the submissions are spread over several JWT subjects to stay below it), when a job
// fails, or when RSS or thread growth breaks its bound; 2 when it could not run at all.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow/ipc"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	airpyv1 "github.com/airpy/airpy/generated/go/airpy/v1"
)

type config struct {
	Duration      time.Duration `json:"-"`
	Warmup        time.Duration `json:"-"`
	DurationS     float64       `json:"duration_s"`
	WarmupS       float64       `json:"warmup_s"`
	Watchers      int           `json:"watchers"`
	SubmitRate    float64       `json:"submit_rate_per_s"`
	GetJobRate    float64       `json:"getjob_rate_per_s"`
	Fetchers      int           `json:"fetchers"`
	Subjects      int           `json:"submit_subjects"`
	LongJobs      int           `json:"long_jobs_live"`
	BigRows       int           `json:"big_rows"`
	Conns         int           `json:"connections"`
	RSSBoundMB    float64       `json:"rss_growth_bound_mb"`
	ThreadsBound  int           `json:"threads_growth_bound"`
	Out           string        `json:"-"`
	ServerLog     string        `json:"-"`
	Bin           string        `json:"-"`
	KeepWorkspace bool          `json:"-"`
}

func main() {
	var cfg config
	flag.DurationVar(&cfg.Duration, "duration", 30*time.Second, "length of the measured run")
	flag.DurationVar(&cfg.Warmup, "warmup", 10*time.Second, "length of the warm-up run before the start figures (below about 10 s the start RSS is under the server's working level and the RSS bound may fail)")
	flag.IntVar(&cfg.Watchers, "watchers", 200, "concurrent WatchJob subscribers")
	flag.Float64Var(&cfg.SubmitRate, "submit-rate", 5, "job submissions per second (Discover and Query alternately)")
	flag.Float64Var(&cfg.GetJobRate, "getjob-rate", 50, "GetJob polls per second")
	flag.IntVar(&cfg.Fetchers, "fetchers", 4, "concurrent FetchResult streams of the large result")
	flag.IntVar(&cfg.Subjects, "subjects", 4, "JWT subjects the submissions are spread over")
	flag.IntVar(&cfg.LongJobs, "long-jobs", 3, "long jobs (full InferSchema) kept queued or running for the watchers")
	flag.IntVar(&cfg.BigRows, "rows", 600000, "rows of the generated CSV (the large result and the long jobs)")
	flag.IntVar(&cfg.Conns, "conns", 4, "client connections the calls are spread over")
	flag.Float64Var(&cfg.RSSBoundMB, "rss-bound-mb", 100, "largest allowed growth of the server's RSS, start to end")
	flag.IntVar(&cfg.ThreadsBound, "threads-bound", 40, "largest allowed growth of the server's thread count, start to end")
	flag.StringVar(&cfg.Out, "out", "results/latest.json", "where the JSON results go")
	flag.StringVar(&cfg.ServerLog, "server-log", "results/server.log", "where the server's stderr goes")
	flag.BoolVar(&cfg.KeepWorkspace, "keep", false, "keep the temporary data directory")
	flag.Parse()
	cfg.DurationS, cfg.WarmupS = cfg.Duration.Seconds(), cfg.Warmup.Seconds()
	cfg.Bin = os.Getenv("AIRPY_BIN")
	if cfg.Bin == "" {
		cfg.Bin = "../.venv/bin/airpy"
	}
	code, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// ------------------------------------------------------------------ the server under load

type server struct {
	cmd     *exec.Cmd
	pid     int
	address string
	env     []string
	bin     string
	exited  chan error
}

func startServer(cfg config, dir string) (*server, error) {
	env := append(os.Environ(),
		"PY_LISTEN=127.0.0.1:0",
		"PY_DATA_DIR="+filepath.Join(dir, "state"),
		"PY_BASE_PATH="+filepath.Join(dir, "data"),
		"PY_LOG_LEVEL=WARNING",
		"PY_SHUTDOWN_GRACE_S=5",
		"PY_METRICS_LISTEN=",
		"REDIS_URL=",
	)
	if err := os.MkdirAll(filepath.Dir(cfg.ServerLog), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(cfg.ServerLog)
	if err != nil {
		return nil, err
	}
	portFile := filepath.Join(dir, "port")
	cmd := exec.Command(cfg.Bin, "serve", "--port-file", portFile)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s serve: %w", cfg.Bin, err)
	}
	s := &server{cmd: cmd, pid: cmd.Process.Pid, env: env, bin: cfg.Bin, exited: make(chan error, 1)}
	go func() { s.exited <- cmd.Wait(); logFile.Close() }()
	deadline := time.Now().Add(90 * time.Second)
	for {
		raw, err := os.ReadFile(portFile)
		if port, perr := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && perr == nil && port > 0 {
			s.address = fmt.Sprintf("127.0.0.1:%d", port)
			return s, nil
		}
		select {
		case err := <-s.exited:
			return nil, fmt.Errorf("airpy serve exited before listening (%v); see %s", err, cfg.ServerLog)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop(time.Second)
			return nil, errors.New("airpy serve did not start within 90 s")
		}
	}
}

func (s *server) token(subject string) (string, error) {
	cmd := exec.Command(s.bin, "token", "--subject", subject)
	cmd.Env = s.env
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("airpy token --subject %s: %w", subject, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// stop sends SIGTERM and waits; past the grace it kills. It returns the exit description.
func (s *server) stop(grace time.Duration) string {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.exited:
		if err == nil {
			return "exit 0"
		}
		return err.Error()
	case <-time.After(grace):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return fmt.Sprintf("killed: no exit within %s of SIGTERM", grace)
	}
}

type procStat struct {
	RSSMB float64 `json:"rss_mb"`
	// RSS split: anonymous memory (heap; where a leak shows) and file pages (e.g. result files read).
	AnonMB  float64 `json:"rss_anon_mb"`
	FileMB  float64 `json:"rss_file_mb"`
	Threads int     `json:"threads"`
	FDs     int     `json:"open_fds"`
}

// sample reads /proc/<pid>/status of the `airpy serve` process alone (not its children).
func sample(pid int) (procStat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStat{}, err
	}
	var st procStat
	for _, line := range strings.Split(string(raw), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "VmRSS:":
			kb, _ := strconv.ParseFloat(fields[1], 64)
			st.RSSMB = kb / 1024
		case "RssAnon:":
			kb, _ := strconv.ParseFloat(fields[1], 64)
			st.AnonMB = kb / 1024
		case "RssFile:":
			kb, _ := strconv.ParseFloat(fields[1], 64)
			st.FileMB = kb / 1024
		case "Threads:":
			st.Threads, _ = strconv.Atoi(fields[1])
		}
	}
	if entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		st.FDs = len(entries)
	}
	return st, nil
}

// ------------------------------------------------------------------ data

// writeData writes the datasets: load/big.csv (the large result and the long jobs),
// load/medium.csv (the submitted queries) and load/parts/ (the submitted Discovers).
func writeData(base string, rows int) error {
	root := filepath.Join(base, "load")
	if err := os.MkdirAll(filepath.Join(root, "parts"), 0o755); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(7, 11))
	regions := []string{"north", "south", "east", "west", "central"}
	states := []string{"ok", "estimated", "missing", "late"}
	write := func(path string, n int) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		fmt.Fprintln(w, "id,ts,meter,region,kwh,state")
		start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := 0; i < n; i++ {
			ts := start.Add(time.Duration(i) * time.Minute).Format("2006-01-02 15:04:05")
			fmt.Fprintf(w, "%d,%s,m-%05d,%s,%.3f,%s\n", i, ts, rng.IntN(20000),
				regions[rng.IntN(len(regions))], rng.Float64()*10, states[rng.IntN(len(states))])
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if err := write(filepath.Join(root, "big.csv"), rows); err != nil {
		return err
	}
	if err := write(filepath.Join(root, "medium.csv"), 50000); err != nil {
		return err
	}
	for i := 0; i < 20; i++ {
		if err := write(filepath.Join(root, "parts", fmt.Sprintf("part-%02d.csv", i)), 500); err != nil {
			return err
		}
	}
	return nil
}

// ------------------------------------------------------------------ calls and their outcomes

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

type rpcRecord struct {
	Calls    int64            `json:"calls"`
	OK       int64            `json:"ok"`
	Errors   map[string]int64 `json:"errors"`
	Intended map[string]int64 `json:"intended"`
	// Streams the driver itself ended when the run stopped (context cancelled): not errors.
	EndedByDriver int64             `json:"ended_by_driver"`
	Samples       map[string]string `json:"error_samples,omitempty"`
	latencies     []time.Duration
	P50Ms         *float64 `json:"p50_ms,omitempty"`
	P99Ms         *float64 `json:"p99_ms,omitempty"`
	MaxMs         *float64 `json:"max_ms,omitempty"`
}

type stats struct {
	mu   sync.Mutex
	rpcs map[string]*rpcRecord
}

func newStats() *stats { return &stats{rpcs: map[string]*rpcRecord{}} }

func (s *stats) rec(name string) *rpcRecord {
	r := s.rpcs[name]
	if r == nil {
		r = &rpcRecord{Errors: map[string]int64{}, Intended: map[string]int64{}, Samples: map[string]string{}}
		s.rpcs[name] = r
	}
	return r
}

// record counts one call. `timed` adds its latency to the percentiles (unary calls);
// `ctx` is the run's context: a Canceled or DeadlineExceeded after it ended was the driver's doing.
func (s *stats) record(ctx context.Context, name string, took time.Duration, err error, timed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rec(name)
	r.Calls++
	if err == nil {
		r.OK++
		if timed {
			r.latencies = append(r.latencies, took)
		}
		return
	}
	st := status.Convert(err)
	if ctx.Err() != nil && (st.Code() == codes.Canceled || st.Code() == codes.DeadlineExceeded) {
		r.EndedByDriver++
		return
	}
	reason := ""
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			reason = info.GetReason()
		}
	}
	key := st.Code().String()
	if st.Code() == codes.ResourceExhausted && reason == "RESOURCE_CAP" {
		r.Intended[key+" "+reason]++
		return
	}
	if reason != "" {
		key += " " + reason
	}
	r.Errors[key]++
	if _, seen := r.Samples[key]; !seen {
		r.Samples[key] = st.Message()
	}
}

// fail counts a problem found in a successful call's content (e.g. a torn stream).
func (s *stats) fail(name, key, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rec(name)
	r.Errors[key]++
	if _, seen := r.Samples[key]; !seen {
		r.Samples[key] = message
	}
}

func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

func (s *stats) finish() {
	for _, r := range s.rpcs {
		if len(r.latencies) == 0 {
			continue
		}
		sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
		p50, p99, top := percentile(r.latencies, 0.50), percentile(r.latencies, 0.99), percentile(r.latencies, 1)
		r.P50Ms, r.P99Ms, r.MaxMs = &p50, &p99, &top
	}
}

// ------------------------------------------------------------------ jobs

type job struct {
	token    uint64
	kind     string
	client   int // index of the caller (subject) that owns it
	long     bool
	status   airpyv1.JobStatus
	created  time.Time
	ended    time.Time
	reason   string
	message  string
	canceled bool // cancelled by the driver when the run stopped
}

// tracker holds every job submitted in one run and who follows it.
type tracker struct {
	mu      sync.Mutex
	jobs    map[uint64]*job
	pending []uint64 // short jobs not yet seen terminal, polled round-robin by GetJob
	next    int
	live    []uint64 // long jobs not yet seen terminal (for the watchers)
}

func newTracker() *tracker { return &tracker{jobs: map[uint64]*job{}} }

func (t *tracker) add(j *job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.jobs[j.token] = j
	if j.long {
		t.live = append(t.live, j.token)
	} else {
		t.pending = append(t.pending, j.token)
	}
}

func (t *tracker) liveCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.live)
}

func (t *tracker) liveTokens() []uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]uint64(nil), t.live...)
}

func (t *tracker) pickLive() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.live) == 0 {
		return 0
	}
	return t.live[rand.IntN(len(t.live))]
}

func (t *tracker) nextPending() *job {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.pending) == 0 {
		return nil
	}
	t.next %= len(t.pending)
	j := t.jobs[t.pending[t.next]]
	t.next++
	return j
}

func (t *tracker) pendingJobs() []*job {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []*job{}
	for _, tok := range append(append([]uint64(nil), t.pending...), t.live...) {
		out = append(out, t.jobs[tok])
	}
	return out
}

// ended records a job's terminal state (from GetJob) once.
func (t *tracker) ended(g *airpyv1.Job) {
	t.mu.Lock()
	defer t.mu.Unlock()
	j := t.jobs[g.GetToken()]
	if j == nil || j.status >= airpyv1.JobStatus_JOB_STATUS_COMPLETED {
		return
	}
	j.status = g.GetStatus()
	j.created, j.ended = g.GetCreatedAt().AsTime(), g.GetEndedAt().AsTime()
	j.reason, j.message = g.GetError().GetReason(), g.GetError().GetMessage()
	drop := func(list []uint64) []uint64 {
		for i, tok := range list {
			if tok == j.token {
				return append(list[:i], list[i+1:]...)
			}
		}
		return list
	}
	t.pending, t.live = drop(t.pending), drop(t.live)
}

func terminal(s airpyv1.JobStatus) bool { return s >= airpyv1.JobStatus_JOB_STATUS_COMPLETED }

// ------------------------------------------------------------------ the load

type caller struct {
	creds grpc.CallOption
	name  string
}

type rig struct {
	cfg       config
	conns     []*grpc.ClientConn
	owner     caller   // subject "load": the long jobs, their watchers and the large result
	callers   []caller // subjects "load-submit-N": the Discover and Query submissions
	bigToken  uint64
	bigRows   int64
	bigBytes  int64
	openWatch atomic.Int64
	peakWatch atomic.Int64
}

func (r *rig) conn(i int) *grpc.ClientConn { return r.conns[i%len(r.conns)] }

func (r *rig) callerOf(j *job) caller {
	if j.client < 0 {
		return r.owner
	}
	return r.callers[j.client]
}

type runResult struct {
	stats      *stats
	tracker    *tracker
	started    time.Time
	stopped    time.Time
	watch      map[string]int64
	fetch      map[string]float64
	skipped    int64
	peak       procStat
	drainError string
}

// load runs the whole mix for d and then stops it: the long jobs still going are cancelled
// (counted as cancelled by the driver), and every other submitted job is followed to its end.
func (r *rig) load(parent context.Context, d time.Duration, pid int) *runResult {
	st, tr := newStats(), newTracker()
	res := &runResult{stats: st, tracker: tr, started: time.Now()}
	r.peakWatch.Store(0)
	// Stopped by a timer rather than a deadline: a deadline would travel with every call
	// (grpc-timeout) and grpc-go fails a call started in the instant before the timer fires
	// with DEADLINE_EXCEEDED while ctx.Err() is still nil.
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	stopTimer := time.AfterFunc(d, cancel)
	defer stopTimer.Stop()
	var wg sync.WaitGroup
	var watchStreams, watchEvents, watchTerminal atomic.Int64
	var fetchStreams, fetchBytes, fetchRows atomic.Int64
	var fetchNanos atomic.Int64
	var skipped atomic.Int64

	// Long jobs for the watchers: full InferSchema scans of big.csv, kept -long-jobs live.
	wg.Add(1)
	go func() {
		defer wg.Done()
		jobs := airpyv1.NewJobServiceClient(r.conn(0))
		data := airpyv1.NewDataServiceClient(r.conn(0))
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, tok := range tr.liveTokens() {
				began := time.Now()
				got, err := jobs.GetJob(ctx, &airpyv1.GetJobRequest{Token: tok}, r.owner.creds)
				st.record(ctx, "GetJob", time.Since(began), err, true)
				if err == nil && terminal(got.GetJob().GetStatus()) {
					tr.ended(got.GetJob())
				}
			}
			for tr.liveCount() < r.cfg.LongJobs && ctx.Err() == nil {
				began := time.Now()
				got, err := data.InferSchema(ctx, &airpyv1.InferSchemaRequest{
					DatasourceId: "load", Uri: "load/big.csv", Mode: airpyv1.ProfileMode_PROFILE_MODE_FULL,
				}, r.owner.creds)
				st.record(ctx, "InferSchema", time.Since(began), err, true)
				if err != nil {
					break
				}
				tr.add(&job{token: got.GetToken(), kind: "infer_schema", client: -1, long: true})
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	// The watchers.
	for i := 0; i < r.cfg.Watchers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			jobs := airpyv1.NewJobServiceClient(r.conn(i))
			for ctx.Err() == nil {
				tok := tr.pickLive()
				if tok == 0 {
					pause(ctx, 100*time.Millisecond)
					continue
				}
				began := time.Now()
				sawTerminal, err := r.watch(ctx, jobs, tok, &watchEvents)
				watchStreams.Add(1)
				if sawTerminal {
					watchTerminal.Add(1)
				}
				st.record(ctx, "WatchJob", time.Since(began), err, false)
				if err == nil && !sawTerminal {
					st.fail("WatchJob", "EOF before terminal", fmt.Sprintf("job %d: stream ended without its terminal event", tok))
				}
				if time.Since(began) < 250*time.Millisecond {
					pause(ctx, 250*time.Millisecond) // the job had just ended: let the feeder start another
				}
			}
		}(i)
	}

	// Submissions at a fixed rate, Discover and Query alternately, over the submit subjects.
	wg.Add(1)
	go func() {
		defer wg.Done()
		sem := make(chan struct{}, 64)
		tick := time.NewTicker(time.Duration(float64(time.Second) / r.cfg.SubmitRate))
		defer tick.Stop()
		var inner sync.WaitGroup
		defer inner.Wait()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			select {
			case sem <- struct{}{}:
			default:
				skipped.Add(1) // 64 submissions in flight: the server is not keeping up
				continue
			}
			inner.Add(1)
			go func(n int) {
				defer inner.Done()
				defer func() { <-sem }()
				r.submit(ctx, n, st, tr)
			}(n)
		}
	}()

	// GetJob polls at a fixed rate, round-robin over the submitted jobs not yet seen ended.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Duration(float64(time.Second) / r.cfg.GetJobRate))
		defer tick.Stop()
		var inner sync.WaitGroup
		defer inner.Wait()
		for n := 0; ; n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			j := tr.nextPending()
			if j == nil {
				continue
			}
			inner.Add(1)
			go func(n int, j *job) {
				defer inner.Done()
				jobs := airpyv1.NewJobServiceClient(r.conn(n))
				began := time.Now()
				got, err := jobs.GetJob(ctx, &airpyv1.GetJobRequest{Token: j.token}, r.callerOf(j).creds)
				st.record(ctx, "GetJob", time.Since(began), err, true)
				if err == nil && terminal(got.GetJob().GetStatus()) {
					tr.ended(got.GetJob())
				}
			}(n, j)
		}
	}()

	// Large FetchResult streams.
	for i := 0; i < r.cfg.Fetchers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			jobs := airpyv1.NewJobServiceClient(r.conn(i + 1))
			for ctx.Err() == nil {
				began := time.Now()
				n, rows, err := r.fetch(ctx, jobs)
				st.record(ctx, "FetchResult", time.Since(began), err, false)
				if err != nil {
					pause(ctx, 100*time.Millisecond)
					continue
				}
				if n != r.bigBytes || rows != r.bigRows {
					st.fail("FetchResult", "torn result", fmt.Sprintf("read %d bytes, %d rows; expected %d bytes, %d rows", n, rows, r.bigBytes, r.bigRows))
				}
				fetchStreams.Add(1)
				fetchBytes.Add(n)
				fetchRows.Add(rows)
				fetchNanos.Add(int64(time.Since(began)))
			}
		}(i)
	}

	// The server's resources while the load runs.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			if s, err := sample(pid); err == nil {
				res.peak.RSSMB = max(res.peak.RSSMB, s.RSSMB)
				res.peak.AnonMB = max(res.peak.AnonMB, s.AnonMB)
				res.peak.FileMB = max(res.peak.FileMB, s.FileMB)
				res.peak.Threads = max(res.peak.Threads, s.Threads)
				res.peak.FDs = max(res.peak.FDs, s.FDs)
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()

	<-ctx.Done()
	wg.Wait()
	res.stopped = time.Now()

	// Cancel the long jobs still live, then follow every other job to its end.
	after, done := context.WithTimeout(parent, 120*time.Second)
	defer done()
	ownerJobs := airpyv1.NewJobServiceClient(r.conn(0))
	for _, tok := range tr.liveTokens() {
		began := time.Now()
		_, err := ownerJobs.CancelJob(after, &airpyv1.CancelJobRequest{Token: tok}, r.owner.creds)
		st.record(after, "CancelJob", time.Since(began), err, true)
		tr.mu.Lock()
		tr.jobs[tok].canceled = true
		tr.mu.Unlock()
	}
	for {
		left := tr.pendingJobs()
		if len(left) == 0 {
			break
		}
		if after.Err() != nil {
			res.drainError = fmt.Sprintf("%d jobs not ended 120 s after the run stopped", len(left))
			break
		}
		for _, j := range left {
			jobs := airpyv1.NewJobServiceClient(r.conn(0))
			got, err := jobs.GetJob(after, &airpyv1.GetJobRequest{Token: j.token}, r.callerOf(j).creds)
			if err == nil && terminal(got.GetJob().GetStatus()) {
				tr.ended(got.GetJob())
			}
			if err != nil && after.Err() == nil {
				st.record(after, "GetJob (drain)", 0, err, false)
			}
		}
		pause(after, 100*time.Millisecond)
	}
	st.finish()
	res.skipped = skipped.Load()
	res.watch = map[string]int64{
		"streams":           watchStreams.Load(),
		"streams_to_end":    watchTerminal.Load(),
		"events":            watchEvents.Load(),
		"peak_open_streams": r.peakWatch.Load(),
	}
	secs := float64(fetchNanos.Load()) / 1e9
	res.fetch = map[string]float64{
		"streams":   float64(fetchStreams.Load()),
		"mb":        float64(fetchBytes.Load()) / 1e6,
		"rows":      float64(fetchRows.Load()),
		"result_mb": float64(r.bigBytes) / 1e6,
		"mean_s":    secs / max(1, float64(fetchStreams.Load())),
		"mb_per_s":  float64(fetchBytes.Load()) / 1e6 / res.stopped.Sub(res.started).Seconds(),
	}
	return res
}

func pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// watch follows one job's events to the end; it reports whether the terminal event came.
func (r *rig) watch(ctx context.Context, jobs airpyv1.JobServiceClient, tok uint64, events *atomic.Int64) (bool, error) {
	stream, err := jobs.WatchJob(ctx, &airpyv1.WatchJobRequest{Token: tok}, r.owner.creds)
	if err != nil {
		return false, err
	}
	open := r.openWatch.Add(1)
	defer r.openWatch.Add(-1)
	for {
		peak := r.peakWatch.Load()
		if open <= peak || r.peakWatch.CompareAndSwap(peak, open) {
			break
		}
	}
	var seq uint64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		events.Add(1)
		seq++
		if got := msg.GetEvent().GetSeq(); got != seq {
			return false, status.Errorf(codes.DataLoss, "job %d: event %d has seq %d", tok, seq, got)
		}
		if msg.GetEvent().GetTerminal() {
			// Nothing may follow the terminal event.
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				return true, status.Errorf(codes.DataLoss, "job %d: the stream went on after the terminal event (%v)", tok, err)
			}
			return true, nil
		}
	}
}

// chunks turns the FetchResult messages into one io.Reader (their concatenation is an IPC stream).
type chunks struct {
	stream airpyv1.JobService_FetchResultClient
	buf    []byte
	bytes  int64
}

func (c *chunks) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		msg, err := c.stream.Recv()
		if err != nil {
			return 0, err
		}
		c.buf = msg.GetArrowIpc()
		c.bytes += int64(len(c.buf))
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

// fetch reads the large result fully, decoding every record batch; bytes and rows read.
func (r *rig) fetch(ctx context.Context, jobs airpyv1.JobServiceClient) (int64, int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := jobs.FetchResult(ctx, &airpyv1.FetchResultRequest{Token: r.bigToken}, r.owner.creds)
	if err != nil {
		return 0, 0, err
	}
	src := &chunks{stream: stream}
	reader, err := ipc.NewReader(src)
	if err != nil {
		return src.bytes, 0, unwrap(ctx, err)
	}
	defer reader.Release()
	var rows int64
	for reader.Next() {
		rec := reader.RecordBatch()
		rows += rec.NumRows()
		for c := 0; c < int(rec.NumCols()); c++ {
			if rec.Column(c).Len() != int(rec.NumRows()) {
				return src.bytes, rows, status.Errorf(codes.DataLoss, "column %d has %d values in a batch of %d rows", c, rec.Column(c).Len(), rec.NumRows())
			}
		}
	}
	if err := reader.Err(); err != nil && !errors.Is(err, io.EOF) {
		return src.bytes, rows, unwrap(ctx, err)
	}
	return src.bytes, rows, nil
}

// unwrap finds the gRPC status under arrow-go's wrapping of a reader error.
func unwrap(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err() // the driver stopped the read
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if _, ok := status.FromError(e); ok {
			return e
		}
	}
	return status.Error(codes.DataLoss, err.Error())
}

func (r *rig) submit(ctx context.Context, n int, st *stats, tr *tracker) {
	who := n % len(r.callers)
	c := r.callers[who]
	conn := r.conn(n)
	began := time.Now()
	if n%2 == 0 {
		got, err := airpyv1.NewDataServiceClient(conn).Discover(ctx, &airpyv1.DiscoverRequest{
			DatasourceId: "load", Uri: "load/parts", Recurse: true,
		}, c.creds)
		took := time.Since(began)
		st.record(ctx, "Discover", took, err, true)
		st.record(ctx, "submit (Discover+Query)", took, err, true)
		if err == nil {
			tr.add(&job{token: got.GetToken(), kind: "discover", client: who})
		}
		return
	}
	got, err := airpyv1.NewQueryServiceClient(conn).Query(ctx, &airpyv1.QueryRequest{
		DatasourceId: "load",
		NoCache:      true, // load and cancellation need the query to run
		Plan: &airpyv1.Plan{
			Source: &airpyv1.Plan_Dataset{Dataset: "load/medium.csv"},
			Filters: []*airpyv1.Filter{{
				Col: "kwh", Op: airpyv1.Filter_OP_GT,
				Value: &airpyv1.Value{Kind: &airpyv1.Value_DoubleValue{DoubleValue: float64(n%5) + 1}},
			}},
			GroupBy: []string{"region", "state"},
			Aggs: []*airpyv1.Aggregate{
				{Col: "kwh", Fn: airpyv1.Aggregate_FN_SUM},
				{Fn: airpyv1.Aggregate_FN_COUNT},
			},
			OrderBy: []*airpyv1.OrderBy{{Col: "region"}, {Col: "state"}},
		},
	}, c.creds)
	took := time.Since(began)
	st.record(ctx, "Query", took, err, true)
	st.record(ctx, "submit (Discover+Query)", took, err, true)
	if err == nil {
		tr.add(&job{token: got.GetToken(), kind: "query", client: who})
	}
}

// ------------------------------------------------------------------ set-up, report

func (r *rig) waitReady(ctx context.Context) error {
	health := healthpb.NewHealthClient(r.conn(0))
	for {
		got, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: "airpy.v1.JobService"})
		if err == nil && got.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server was not ready (workers live) in time: %v", err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// prepareBig runs the query whose result the fetchers read: every row of big.csv.
func (r *rig) prepareBig(ctx context.Context) error {
	got, err := airpyv1.NewQueryServiceClient(r.conn(0)).Query(ctx, &airpyv1.QueryRequest{
		DatasourceId: "load-big",
		NoCache:      true, // load and cancellation need the query to run
		Plan:         &airpyv1.Plan{Source: &airpyv1.Plan_Dataset{Dataset: "load/big.csv"}},
	}, r.owner.creds)
	if err != nil {
		return fmt.Errorf("the large query: %w", err)
	}
	r.bigToken = got.GetToken()
	jobs := airpyv1.NewJobServiceClient(r.conn(0))
	var events atomic.Int64
	ended, err := r.watch(ctx, jobs, r.bigToken, &events)
	if err != nil || !ended {
		return fmt.Errorf("watching the large query: ended %v, %v", ended, err)
	}
	job, err := jobs.GetJob(ctx, &airpyv1.GetJobRequest{Token: r.bigToken}, r.owner.creds)
	if err != nil {
		return err
	}
	if job.GetJob().GetStatus() != airpyv1.JobStatus_JOB_STATUS_COMPLETED {
		return fmt.Errorf("the large query ended %s: %s", job.GetJob().GetStatus(), job.GetJob().GetError().GetMessage())
	}
	// Its size from the initial metadata, then one full read to check it.
	stream, err := jobs.FetchResult(ctx, &airpyv1.FetchResultRequest{Token: r.bigToken}, r.owner.creds)
	if err != nil {
		return err
	}
	var md metadata.MD
	if md, err = stream.Header(); err != nil {
		return err
	}
	if v := md.Get("x-arrow-bytes"); len(v) > 0 {
		r.bigBytes, _ = strconv.ParseInt(v[0], 10, 64)
	}
	if v := md.Get("x-arrow-rows"); len(v) > 0 {
		r.bigRows, _ = strconv.ParseInt(v[0], 10, 64)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return err
		}
	}
	n, rows, err := r.fetch(ctx, jobs)
	if err != nil {
		return err
	}
	if n != r.bigBytes || rows != r.bigRows || rows != int64(r.cfg.BigRows) {
		return fmt.Errorf("the large result read %d bytes, %d rows; metadata says %d bytes, %d rows; %d rows written",
			n, rows, r.bigBytes, r.bigRows, r.cfg.BigRows)
	}
	return nil
}

type report struct {
	When       string                `json:"when"`
	Machine    map[string]any        `json:"machine"`
	Config     config                `json:"config"`
	RPCs       map[string]*rpcRecord `json:"rpcs"`
	Jobs       map[string]any        `json:"jobs"`
	Watch      map[string]int64      `json:"watch"`
	Fetch      map[string]float64    `json:"fetch"`
	Server     map[string]any        `json:"server"`
	WarmupErrs map[string]*rpcRecord `json:"warmup_errors,omitempty"`
	// Error-level lines of the server's log, by message and last line of the traceback:
	// reported, not failed on (grpcio logs some of them for calls the driver cancelled).
	ServerLog map[string]int `json:"server_log_errors"`
	Failures  []string       `json:"failures"`
	Pass      bool           `json:"pass"`
}

func run(cfg config) (int, error) {
	dir, err := os.MkdirTemp("", "airpy-load-")
	if err != nil {
		return 0, err
	}
	if cfg.KeepWorkspace {
		fmt.Println("workspace:", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	fmt.Printf("writing data (%d rows) under %s\n", cfg.BigRows, dir)
	if err := writeData(filepath.Join(dir, "data"), cfg.BigRows); err != nil {
		return 0, err
	}
	srv, err := startServer(cfg, dir)
	if err != nil {
		return 0, err
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.stop(15 * time.Second)
		}
	}()
	fmt.Printf("airpy serve pid %d on %s (log %s)\n", srv.pid, srv.address, cfg.ServerLog)

	// A hard bound on the whole run, whatever happens.
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Warmup+cfg.Duration+6*time.Minute)
	defer cancel()

	r := &rig{cfg: cfg}
	for i := 0; i < max(1, cfg.Conns); i++ {
		conn, err := grpc.NewClient(srv.address, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		r.conns = append(r.conns, conn)
	}
	tok, err := srv.token("load")
	if err != nil {
		return 0, err
	}
	r.owner = caller{creds: grpc.PerRPCCredentials(bearer(tok)), name: "load"}
	for i := 0; i < max(1, cfg.Subjects); i++ {
		name := fmt.Sprintf("load-submit-%d", i)
		tok, err := srv.token(name)
		if err != nil {
			return 0, err
		}
		r.callers = append(r.callers, caller{creds: grpc.PerRPCCredentials(bearer(tok)), name: name})
	}
	ready, readyDone := context.WithTimeout(ctx, 90*time.Second)
	err = r.waitReady(ready)
	readyDone()
	if err != nil {
		return 0, err
	}
	fmt.Println("preparing the large result …")
	if err := r.prepareBig(ctx); err != nil {
		return 0, err
	}
	fmt.Printf("large result: job %d, %d rows, %.1f MB of Arrow IPC\n", r.bigToken, r.bigRows, float64(r.bigBytes)/1e6)

	fmt.Printf("warm-up: %s of the full mix …\n", cfg.Warmup)
	warm := r.load(ctx, cfg.Warmup, srv.pid)
	time.Sleep(3 * time.Second) // settled as the end figures are
	start, err := sample(srv.pid)
	if err != nil {
		return 0, err
	}
	fmt.Printf("start: RSS %.1f MB, %d threads, %d open files\n", start.RSSMB, start.Threads, start.FDs)

	fmt.Printf("load: %s, %d watchers, %.0f submissions/s, %.0f GetJob/s, %d FetchResult streams …\n",
		cfg.Duration, cfg.Watchers, cfg.SubmitRate, cfg.GetJobRate, cfg.Fetchers)
	res := r.load(ctx, cfg.Duration, srv.pid)
	time.Sleep(3 * time.Second) // let the server settle: the end figures are of the idle server, as the start ones
	end, err := sample(srv.pid)
	if err != nil {
		return 0, fmt.Errorf("the server process is gone: %w", err)
	}
	exit := srv.stop(30 * time.Second)
	stopped = true

	rep := build(cfg, warm, res, start, end, exit)
	rep.ServerLog = logErrors(cfg.ServerLog)
	printReport(rep)
	if err := os.MkdirAll(filepath.Dir(cfg.Out), 0o755); err != nil {
		return 0, err
	}
	raw, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(cfg.Out, append(raw, '\n'), 0o644); err != nil {
		return 0, err
	}
	fmt.Println("written", cfg.Out)
	if !rep.Pass {
		return 1, nil
	}
	return 0, nil
}

func build(cfg config, warm, res *runResult, start, end procStat, exit string) *report {
	rep := &report{
		When:    time.Now().UTC().Format(time.RFC3339),
		Machine: map[string]any{"cpus": runtime.NumCPU(), "goos": runtime.GOOS},
		Config:  cfg,
		RPCs:    res.stats.rpcs,
		Watch:   res.watch,
		Fetch:   res.fetch,
	}
	fails := []string{}
	for name, rec := range res.stats.rpcs {
		for key, n := range rec.Errors {
			fails = append(fails, fmt.Sprintf("%s: %d × %s (%s)", name, n, key, rec.Samples[key]))
		}
	}
	warmErrs := map[string]*rpcRecord{}
	for name, rec := range warm.stats.rpcs {
		if len(rec.Errors) > 0 {
			warmErrs[name] = rec
			for key, n := range rec.Errors {
				fails = append(fails, fmt.Sprintf("warm-up %s: %d × %s (%s)", name, n, key, rec.Samples[key]))
			}
		}
	}
	if len(warmErrs) > 0 {
		rep.WarmupErrs = warmErrs
	}

	// Jobs: by kind and outcome; completed per second from the server's own end times.
	window := res.stopped.Sub(res.started)
	byKind := map[string]map[string]int{}
	turnaround := map[string][]time.Duration{}
	inWindow := 0
	for _, rr := range []*runResult{warm, res} {
		for _, j := range rr.tracker.jobs {
			outcome := strings.ToLower(strings.TrimPrefix(j.status.String(), "JOB_STATUS_"))
			if j.canceled && j.status == airpyv1.JobStatus_JOB_STATUS_CANCELLED {
				outcome = "cancelled_by_driver"
			} else if j.canceled && j.status == airpyv1.JobStatus_JOB_STATUS_COMPLETED {
				outcome = "completed" // ended before the cancel reached it
			}
			if rr != res {
				if outcome != "completed" && outcome != "cancelled_by_driver" {
					fails = append(fails, fmt.Sprintf("warm-up job %d (%s) ended %s: %s %s", j.token, j.kind, outcome, j.reason, j.message))
				}
				continue
			}
			if byKind[j.kind] == nil {
				byKind[j.kind] = map[string]int{}
			}
			byKind[j.kind][outcome]++
			byKind[j.kind]["submitted"]++
			switch outcome {
			case "completed":
				turnaround[j.kind] = append(turnaround[j.kind], j.ended.Sub(j.created))
				if !j.ended.Before(res.started) && !j.ended.After(res.stopped) {
					inWindow++
				}
			case "cancelled_by_driver":
			default:
				fails = append(fails, fmt.Sprintf("job %d (%s) ended %s: %s %s", j.token, j.kind, outcome, j.reason, j.message))
			}
		}
	}
	turn := map[string]map[string]float64{}
	for kind, ds := range turnaround {
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		turn[kind] = map[string]float64{"p50_ms": percentile(ds, 0.5), "p99_ms": percentile(ds, 0.99)}
	}
	if res.drainError != "" {
		fails = append(fails, res.drainError)
	}
	if warm.drainError != "" {
		fails = append(fails, "warm-up: "+warm.drainError)
	}
	backlog := 0
	for _, j := range res.tracker.jobs {
		if !j.long && (j.ended.IsZero() || j.ended.After(res.stopped)) {
			backlog++
		}
	}
	rep.Jobs = map[string]any{
		"backlog_at_stop":          backlog,
		"by_kind":                  byKind,
		"completed_in_window":      inWindow,
		"completed_per_s":          float64(inWindow) / window.Seconds(),
		"created_to_ended":         turn,
		"submission_ticks_skipped": res.skipped,
	}
	if res.skipped > 0 {
		fails = append(fails, fmt.Sprintf("%d submission ticks skipped: 64 submissions were in flight", res.skipped))
	}
	if res.watch["peak_open_streams"] < int64(cfg.Watchers) {
		fails = append(fails, fmt.Sprintf("only %d WatchJob streams were open at once (want %d)", res.watch["peak_open_streams"], cfg.Watchers))
	}
	rssGrowth := end.RSSMB - start.RSSMB
	threadGrowth := end.Threads - start.Threads
	rep.Server = map[string]any{
		"start":  start,
		"end":    end,
		"peak":   res.peak,
		"growth": map[string]any{"rss_mb": rssGrowth, "threads": threadGrowth, "open_fds": end.FDs - start.FDs},
		"bounds": map[string]any{"rss_mb": cfg.RSSBoundMB, "threads": cfg.ThreadsBound},
		"exit":   exit,
	}
	if rssGrowth >= cfg.RSSBoundMB {
		fails = append(fails, fmt.Sprintf("server RSS grew %.1f MB (bound %.0f MB)", rssGrowth, cfg.RSSBoundMB))
	}
	if threadGrowth > cfg.ThreadsBound {
		fails = append(fails, fmt.Sprintf("server threads grew by %d (bound %d)", threadGrowth, cfg.ThreadsBound))
	}
	if exit != "exit 0" {
		fails = append(fails, "airpy serve on SIGTERM after the run: "+exit)
	}
	sort.Strings(fails)
	rep.Failures = fails
	rep.Pass = len(fails) == 0
	return rep
}

func printReport(rep *report) {
	names := make([]string, 0, len(rep.RPCs))
	for name := range rep.RPCs {
		names = append(names, name)
	}
	sort.Strings(names)
	ms := func(v *float64) string {
		if v == nil {
			return "-"
		}
		return fmt.Sprintf("%.1f", *v)
	}
	list := func(m map[string]int64) string {
		if len(m) == 0 {
			return "-"
		}
		parts := []string{}
		for k, v := range m {
			parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
		}
		sort.Strings(parts)
		return strings.Join(parts, ", ")
	}
	fmt.Println()
	fmt.Printf("%-24s %8s %8s %9s %9s %9s  %s\n", "RPC", "calls", "ok", "p50 ms", "p99 ms", "max ms", "errors / intended / ended by driver")
	for _, name := range names {
		r := rep.RPCs[name]
		fmt.Printf("%-24s %8d %8d %9s %9s %9s  %s / %s / %d\n", name, r.Calls, r.OK, ms(r.P50Ms), ms(r.P99Ms), ms(r.MaxMs),
			list(r.Errors), list(r.Intended), r.EndedByDriver)
	}
	fmt.Println()
	byKind, _ := json.Marshal(rep.Jobs["by_kind"])
	turn, _ := json.Marshal(rep.Jobs["created_to_ended"])
	fmt.Printf("jobs: %s\n", byKind)
	fmt.Printf("jobs completed per second: %.1f (created→ended %s); %d submitted jobs not ended when the load stopped\n",
		rep.Jobs["completed_per_s"], turn, rep.Jobs["backlog_at_stop"])
	fmt.Printf("WatchJob: %d streams (%d to the terminal event), %d events, peak %d open at once\n",
		rep.Watch["streams"], rep.Watch["streams_to_end"], rep.Watch["events"], rep.Watch["peak_open_streams"])
	fmt.Printf("FetchResult: %.0f full reads of %.1f MB (%.0f MB, %.0f rows decoded), %.2f s each, %.1f MB/s in all\n",
		rep.Fetch["streams"], rep.Fetch["result_mb"], rep.Fetch["mb"], rep.Fetch["rows"], rep.Fetch["mean_s"], rep.Fetch["mb_per_s"])
	start, end, peak := rep.Server["start"].(procStat), rep.Server["end"].(procStat), rep.Server["peak"].(procStat)
	fmt.Printf("server (airpy serve only): RSS %.1f → %.1f MB (anon %.1f → %.1f, file %.1f → %.1f; peak %.1f; growth %+.1f, bound < %.0f), threads %d → %d (peak %d; growth %+d, bound ≤ %d), open files %d → %d; %s\n",
		start.RSSMB, end.RSSMB, start.AnonMB, end.AnonMB, start.FileMB, end.FileMB, peak.RSSMB, end.RSSMB-start.RSSMB, rep.Config.RSSBoundMB,
		start.Threads, end.Threads, peak.Threads, end.Threads-start.Threads, rep.Config.ThreadsBound,
		start.FDs, end.FDs, rep.Server["exit"])
	for msg, n := range rep.ServerLog {
		fmt.Printf("server log: %d × error %s\n", n, msg)
	}
	if rep.Pass {
		fmt.Println("PASS")
		return
	}
	fmt.Println("FAIL:")
	for _, f := range rep.Failures {
		fmt.Println("  -", f)
	}
}

var hexAddress = regexp.MustCompile(`0x[0-9a-f]+`)

// logErrors counts the error-level JSON lines of the server's log by message.
func logErrors(path string) map[string]int {
	out := map[string]int{}
	raw, err := os.ReadFile(path)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(raw), "\n") {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Exc   string `json:"exc"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || (entry.Level != "error" && entry.Level != "critical") {
			continue
		}
		key := entry.Msg
		if exc := strings.Split(strings.TrimSpace(entry.Exc), "\n"); entry.Exc != "" {
			last := exc[len(exc)-1]
			if len(last) > 160 {
				last = last[:160] + "…"
			}
			key += " | " + last
		}
		out[hexAddress.ReplaceAllString(key, "0x…")]++
	}
	return out
}
