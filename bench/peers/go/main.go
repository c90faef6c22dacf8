// go-bench: the csp-bench workloads written with Go channels and select, so csp can be
// compared against the runtime it imitates. Flags, workloads and output mirror csp-bench
// (see /bench/peers/README.md and the "Bench contract" in DESIGN.md).
//
// Every workload moves int64 values and checks the sum it received, so a broken run fails
// loudly instead of printing a fast number.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

const impl = "go"

var workloads = []string{"spsc", "mpsc", "mpmc", "select_rx", "select_both", "pingpong", "chain"}

// config is one row of results: one workload at one capacity/thread count.
type config struct {
	workload  string
	capacity  int  // ignored when unbounded
	unbounded bool // Go has no unbounded channel: such rows are skipped
	threads   int
	producers int
	consumers int
	messages  int
}

func (c config) capacityJSON() interface{} {
	if c.unbounded {
		return "unbounded"
	}
	return c.capacity
}

func (c config) capacityText() string {
	if c.unbounded {
		return "unbounded"
	}
	return strconv.Itoa(c.capacity)
}

// result is what one row prints.
type result struct {
	cfg      config
	nsMedian float64
	nsMin    float64
	rssKB    int64
	note     string
	skipped  string
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "go-bench: "+format+"\n", args...)
	os.Exit(2)
}

func check(got, want int64, what string) {
	if got != want {
		fail("%s: checksum %d, want %d", what, got, want)
	}
}

// sumTo returns 0 + 1 + ... + (n-1).
func sumTo(n int) int64 { return int64(n) * int64(n-1) / 2 }

// ---- workloads: each returns the elapsed wall time of one run ----
//
// The clock window is csp-bench's: every goroutine is started first and waits at a start
// gate (a channel that is closed); the clock starts just before the gate is closed and
// stops when the last goroutine has finished. chain is the exception, as in csp-bench: its
// clock runs from before the channels are made until every goroutine has exited.

func runSPSC(c config) time.Duration {
	ch := make(chan int64, c.capacity)
	done := make(chan int64)
	gate := make(chan struct{})
	go func() {
		<-gate
		var sum int64
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	go func() {
		<-gate
		for i := 0; i < c.messages; i++ {
			ch <- int64(i)
		}
		close(ch)
	}()
	start := time.Now()
	close(gate)
	sum := <-done
	elapsed := time.Since(start)
	check(sum, sumTo(c.messages), "spsc")
	return elapsed
}

// runMPMC covers mpsc (consumers == 1) and mpmc. Producer p sends p*per .. p*per+per-1, so
// the values received add up to 0 + 1 + ... + (messages-1).
func runMPMC(c config) time.Duration {
	per := c.messages / c.producers
	ch := make(chan int64, c.capacity)
	sums := make(chan int64, c.consumers)
	var producers sync.WaitGroup
	gate := make(chan struct{})
	for q := 0; q < c.consumers; q++ {
		go func() {
			<-gate
			var sum int64
			for v := range ch {
				sum += v
			}
			sums <- sum
		}()
	}
	producers.Add(c.producers)
	for p := 0; p < c.producers; p++ {
		go func(base int) {
			<-gate
			for i := base; i < base+per; i++ {
				ch <- int64(i)
			}
			producers.Done()
		}(p * per)
	}
	start := time.Now()
	close(gate)
	producers.Wait()
	close(ch)
	var sum int64
	for q := 0; q < c.consumers; q++ {
		sum += <-sums
	}
	elapsed := time.Since(start)
	check(sum, sumTo(c.messages), c.workload)
	return elapsed
}

// Select over a number of channels known only at run time: Go's select statement has a
// fixed number of cases, so for up to 4 channels the workloads use a 4-case select whose
// unused cases are nil channels (never ready, dropped from Go's poll order), and
// reflect.Select beyond that (slower: it allocates and converts per call).
const maxSwitch = 4

func pad4(chs []chan int64) [maxSwitch]chan int64 {
	var out [maxSwitch]chan int64
	copy(out[:], chs)
	return out
}

// selectRecvAll receives from all channels by select until every one is closed and
// drained, and returns the sum of what it got.
func selectRecvAll(chs []chan int64) int64 {
	var sum int64
	if len(chs) <= maxSwitch {
		c := pad4(chs)
		open := len(chs)
		for open > 0 {
			select {
			case v, ok := <-c[0]:
				if !ok {
					c[0] = nil
					open--
					continue
				}
				sum += v
			case v, ok := <-c[1]:
				if !ok {
					c[1] = nil
					open--
					continue
				}
				sum += v
			case v, ok := <-c[2]:
				if !ok {
					c[2] = nil
					open--
					continue
				}
				sum += v
			case v, ok := <-c[3]:
				if !ok {
					c[3] = nil
					open--
					continue
				}
				sum += v
			}
		}
		return sum
	}
	cases := make([]reflect.SelectCase, len(chs))
	for i, ch := range chs {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)}
	}
	for open := len(chs); open > 0; {
		i, v, ok := reflect.Select(cases)
		if !ok {
			cases[i].Chan = reflect.Value{} // a zero Chan is never ready, like a nil channel
			open--
			continue
		}
		sum += v.Int()
	}
	return sum
}

// selectSendAll sends values base .. base+n-1, each by one select over all channels.
func selectSendAll(chs []chan int64, base, n int) {
	if len(chs) <= maxSwitch {
		c := pad4(chs)
		for i := base; i < base+n; i++ {
			v := int64(i)
			select {
			case c[0] <- v:
			case c[1] <- v:
			case c[2] <- v:
			case c[3] <- v:
			}
		}
		return
	}
	cases := make([]reflect.SelectCase, len(chs))
	for i, ch := range chs {
		cases[i] = reflect.SelectCase{Dir: reflect.SelectSend, Chan: reflect.ValueOf(ch)}
	}
	for i := base; i < base+n; i++ {
		v := reflect.ValueOf(int64(i))
		for k := range cases {
			cases[k].Send = v
		}
		reflect.Select(cases)
	}
}

func makeChans(n, capacity int) []chan int64 {
	chs := make([]chan int64, n)
	for i := range chs {
		chs[i] = make(chan int64, capacity)
	}
	return chs
}

// runSelectRx: producer p sends its share on its own channel and closes it; one consumer
// selects over all of them.
func runSelectRx(c config) time.Duration {
	per := c.messages / c.producers
	chs := makeChans(c.producers, c.capacity)
	done := make(chan int64)
	gate := make(chan struct{})
	go func() {
		<-gate
		done <- selectRecvAll(chs)
	}()
	for p := 0; p < c.producers; p++ {
		go func(ch chan int64, base int) {
			<-gate
			for i := base; i < base+per; i++ {
				ch <- int64(i)
			}
			close(ch)
		}(chs[p], p*per)
	}
	start := time.Now()
	close(gate)
	sum := <-done
	elapsed := time.Since(start)
	check(sum, sumTo(c.messages), "select_rx")
	return elapsed
}

// runSelectBoth: P channels; every producer sends each value by select over all P, every
// consumer receives by select over all P. The channels close once all producers are done.
func runSelectBoth(c config) time.Duration {
	per := c.messages / c.producers
	chs := makeChans(c.producers, c.capacity)
	sums := make(chan int64, c.consumers)
	var producers sync.WaitGroup
	gate := make(chan struct{})
	for q := 0; q < c.consumers; q++ {
		go func() {
			<-gate
			sums <- selectRecvAll(chs)
		}()
	}
	producers.Add(c.producers)
	for p := 0; p < c.producers; p++ {
		go func(base int) {
			<-gate
			selectSendAll(chs, base, per)
			producers.Done()
		}(p * per)
	}
	start := time.Now()
	close(gate)
	producers.Wait()
	for _, ch := range chs {
		close(ch)
	}
	var sum int64
	for q := 0; q < c.consumers; q++ {
		sum += <-sums
	}
	elapsed := time.Since(start)
	check(sum, sumTo(c.messages), "select_both")
	return elapsed
}

// runPingPong: messages/2 round trips between two goroutines over two unbuffered channels.
func runPingPong(c config) time.Duration {
	trips := c.messages / 2
	ping := make(chan int64)
	pong := make(chan int64)
	gate := make(chan struct{})
	go func() {
		<-gate
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	start := time.Now()
	close(gate)
	var v int64
	for i := 0; i < trips; i++ {
		ping <- v
		v = <-pong
	}
	close(ping)
	<-pong // the echo goroutine has finished
	elapsed := time.Since(start)
	check(v, int64(trips), "pingpong")
	return elapsed
}

// runChain: messages goroutines in a daisy chain over unbuffered channels. Spawn them all,
// pass one value from end to end (each adds 1), and wait until every goroutine has exited.
func runChain(c config) time.Duration {
	n := c.messages
	var wg sync.WaitGroup
	start := time.Now()
	first := make(chan int64)
	in := first
	wg.Add(n)
	for i := 0; i < n; i++ {
		out := make(chan int64)
		go func(in <-chan int64, out chan<- int64) {
			out <- <-in + 1
			wg.Done()
		}(in, out)
		in = out
	}
	first <- 0
	v := <-in
	wg.Wait()
	elapsed := time.Since(start)
	check(v, int64(n), "chain")
	return elapsed
}

// ---- running and reporting ----

// peakRSSKB is this process's peak resident set in kB: VmHWM from /proc/self/status.
// getrusage's ru_maxrss is only the fallback, because Linux carries it across execve: run
// from a bigger parent (bench/compare is a Python process) it reports the parent's peak.
func peakRSSKB() int64 {
	if status, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					return kb
				}
			}
		}
	}
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return int64(ru.Maxrss) // kilobytes on Linux
}

// normalize fixes the shape each workload dictates and rounds messages to what is really
// sent, so the row reports exactly what ran.
func normalize(c config) (config, string) {
	note := ""
	switch c.workload {
	case "spsc":
		c.producers, c.consumers = 1, 1
	case "mpsc", "select_rx":
		c.consumers = 1
	case "pingpong", "chain":
		c.producers, c.consumers = 1, 1
		if c.unbounded || c.capacity != 0 {
			note = "capacity ignored: " + c.workload + " uses rendezvous channels"
		}
		c.capacity, c.unbounded = 0, false
	}
	switch c.workload {
	case "mpsc", "mpmc", "select_rx", "select_both":
		c.messages -= c.messages % c.producers
	case "pingpong":
		c.messages -= c.messages % 2
	}
	if c.workload == "select_rx" || c.workload == "select_both" {
		how := "4-case select statement (nil channels fill unused cases)"
		if c.producers > maxSwitch {
			how = "reflect.Select over " + strconv.Itoa(c.producers) + " channels"
		}
		note = join(note, "select by "+how)
	}
	return c, note
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

func run(c config, repeat int) result {
	c, note := normalize(c)
	r := result{cfg: c, note: note}
	if c.unbounded {
		r.skipped = "go has no unbounded channel"
		return r
	}
	runtime.GOMAXPROCS(c.threads)
	var fn func(config) time.Duration
	switch c.workload {
	case "spsc":
		fn = runSPSC
	case "mpsc", "mpmc":
		fn = runMPMC
	case "select_rx":
		fn = runSelectRx
	case "select_both":
		fn = runSelectBoth
	case "pingpong":
		fn = runPingPong
	case "chain":
		fn = runChain
	}
	ns := make([]float64, repeat)
	for i := range ns {
		runtime.GC() // start every run from the same heap state
		ns[i] = float64(fn(c).Nanoseconds()) / float64(c.messages)
	}
	sort.Float64s(ns)
	if repeat%2 == 1 {
		r.nsMedian = ns[repeat/2]
	} else {
		r.nsMedian = (ns[repeat/2-1] + ns[repeat/2]) / 2
	}
	r.nsMin = ns[0]
	r.rssKB = peakRSSKB()
	return r
}

func round(x float64, digits int) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', digits, 64), 64)
	return v
}

// orderedJSON writes the keys in the contract's order (encoding/json sorts map keys).
func orderedJSON(keys []string, vals []interface{}) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(vals[i])
		b.Write(kb)
		b.WriteByte(':')
		b.Write(vb)
	}
	b.WriteByte('}')
	return b.String()
}

func (r result) fields() ([]string, []interface{}) {
	c := r.cfg
	keys := []string{"impl", "workload", "capacity", "threads", "producers", "consumers",
		"messages", "ns_per_msg", "ns_per_msg_min", "msgs_per_sec", "peak_rss_kb"}
	var med, min, rate, rss interface{} // null in a skipped row, like csp-bench
	if r.skipped == "" {
		rss = r.rssKB
		med, min = round(r.nsMedian, 3), round(r.nsMin, 3)
		rate = round(1e9/r.nsMedian, 0)
	}
	vals := []interface{}{impl, c.workload, c.capacityJSON(), c.threads, c.producers,
		c.consumers, c.messages, med, min, rate, rss}
	if r.note != "" {
		keys, vals = append(keys, "note"), append(vals, r.note)
	}
	if r.skipped != "" {
		keys, vals = append(keys, "skipped"), append(vals, r.skipped)
	}
	return keys, vals
}

func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func num(v interface{}) string {
	if v == nil {
		return ""
	}
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

const csvHeader = "impl,workload,capacity,threads,producers,consumers,messages,ns_per_msg,ns_per_msg_min,msgs_per_sec,peak_rss_kb,note,skipped"

func printResult(format string, r result) {
	keys, vals := r.fields()
	switch format {
	case "json":
		fmt.Println(orderedJSON(keys, vals))
	case "csv":
		cols := make([]string, 11)
		for i := range cols {
			cols[i] = csvField(num(vals[i]))
		}
		fmt.Println(strings.Join(cols, ",") + "," + csvField(r.note) + "," + csvField(r.skipped))
	default:
		c := r.cfg
		if r.skipped != "" {
			fmt.Printf("%-4s %-12s %9s %3d %3d %3d %10d  skipped: %s\n", impl, c.workload,
				c.capacityText(), c.threads, c.producers, c.consumers, c.messages, r.skipped)
			return
		}
		fmt.Printf("%-4s %-12s %9s %3d %3d %3d %10d %10.1f %10.1f %14.0f %9d\n", impl,
			c.workload, c.capacityText(), c.threads, c.producers, c.consumers, c.messages,
			r.nsMedian, r.nsMin, 1e9/r.nsMedian, r.rssKB)
	}
}

func printHeader(format string) {
	switch format {
	case "csv":
		fmt.Println(csvHeader)
	case "table":
		fmt.Printf("%-4s %-12s %9s %3s %3s %3s %10s %10s %10s %14s %9s\n", "impl", "workload",
			"capacity", "thr", "P", "C", "messages", "ns/msg", "min", "msgs/s", "rss_kb")
	}
}

// suiteReferenceMessages is spsc's default: `--suite --messages N` scales by N / this.
const suiteReferenceMessages = 1e6

// crossThreadDivisor: csp-bench's rule for rows whose messages may have to cross threads.
const crossThreadDivisor = 50

// defaultMessages is csp-bench's default_messages (bench/csp-bench/workload.cpp), so the
// same command line runs the same count: per workload, and 1/50 of it at threads > 1 for
// capacity 0 or 1 and for pingpong (chain excepted).
func defaultMessages(c config) int {
	base := 100000 // select_rx, select_both, chain
	switch c.workload {
	case "spsc", "mpsc", "mpmc":
		base = 1000000
	case "pingpong":
		base = 200000
	}
	if c.threads < 2 || c.workload == "chain" {
		return base
	}
	if c.workload == "pingpong" || (!c.unbounded && c.capacity <= 1) {
		return base / crossThreadDivisor
	}
	return base
}

func main() {
	workload := flag.String("workload", "spsc", "spsc|mpsc|mpmc|select_rx|select_both|pingpong|chain")
	capacity := flag.String("capacity", "0", "channel capacity: 0 (rendezvous), N, or unbounded")
	producers := flag.Int("producers", 4, "producers (mpsc, mpmc, select_*)")
	consumers := flag.Int("consumers", 4, "consumers (mpmc, select_both)")
	messages := flag.Int("messages", 0, "messages in total (default csp-bench's: spsc/mpsc/mpmc 1e6, "+
		"select_* 1e5, pingpong 2e5 one-way, chain 1e5 goroutines; 1/50 of that at threads > 1 for "+
		"capacity 0 or 1 and pingpong); with --suite, scales every workload's default by N/1e6")
	threads := flag.Int("threads", 1, "GOMAXPROCS")
	repeat := flag.Int("repeat", 3, "runs per row; ns_per_msg is their median")
	format := flag.String("format", "table", "json|table|csv")
	suite := flag.Bool("suite", false, "every workload at capacities 0, 1, 1024, unbounded and threads 1, 2")
	inProcess := flag.Bool("in-process", false, "with --suite: run every row in this process (peak_rss_kb is then the whole suite's)")
	noHeader := flag.Bool("no-header", false, "print no table/csv header line (used for --suite's child runs)")
	flag.Parse()
	if flag.NArg() > 0 {
		fail("unexpected argument %q", flag.Arg(0))
	}

	switch *format {
	case "json", "table", "csv":
	default:
		fail("--format must be json, table or csv, not %q", *format)
	}
	if *repeat < 1 || *threads < 1 || *producers < 1 || *consumers < 1 || *messages < 0 {
		fail("--repeat, --threads, --producers and --consumers must be >= 1, --messages >= 0")
	}

	var rows []config
	scale := 1.0 // --suite --messages N: every workload's default times N/1e6, as in csp-bench
	if *suite && *messages > 0 {
		scale = float64(*messages) / suiteReferenceMessages
		*messages = 0
	}
	if *suite {
		for _, w := range workloads {
			caps := []string{"0", "1", "1024", "unbounded"}
			if w == "pingpong" || w == "chain" {
				caps = []string{"0"}
			}
			for _, cp := range caps {
				for _, t := range []int{1, 2} {
					rows = append(rows, config{workload: w, capacity: atoiCap(cp),
						unbounded: cp == "unbounded", threads: t, producers: *producers,
						consumers: *consumers, messages: *messages})
				}
			}
		}
	} else {
		known := false
		for _, w := range workloads {
			known = known || w == *workload
		}
		if !known {
			fail("unknown --workload %q (want one of %s)", *workload, strings.Join(workloads, ", "))
		}
		rows = append(rows, config{workload: *workload, capacity: atoiCap(*capacity),
			unbounded: *capacity == "unbounded", threads: *threads, producers: *producers,
			consumers: *consumers, messages: *messages})
	}

	if !*noHeader {
		printHeader(*format)
	}
	failures := 0
	for _, c := range rows {
		if c.messages == 0 {
			c.messages = int(math.Max(1, math.Round(float64(defaultMessages(c))*scale)))
		}
		if *suite && !*inProcess {
			// Each row in a child process of its own, like csp-bench: its peak_rss_kb is that
			// row's alone, and a row that fails does not stop the suite.
			if err := runChild(c, *repeat, *format); err != nil {
				fmt.Fprintf(os.Stderr, "go-bench: FAILED %s capacity %s threads %d: %v\n",
					c.workload, c.capacityText(), c.threads, err)
				failures++
			}
			continue
		}
		printResult(*format, run(c, *repeat))
	}
	if failures > 0 {
		fmt.Fprintf(os.Stderr, "go-bench: %d row(s) failed\n", failures)
		os.Exit(1)
	}
}

func runChild(c config, repeat int, format string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self, "--no-header", "--workload", c.workload, "--capacity",
		c.capacityText(), "--threads", strconv.Itoa(c.threads), "--producers",
		strconv.Itoa(c.producers), "--consumers", strconv.Itoa(c.consumers), "--messages",
		strconv.Itoa(c.messages), "--repeat", strconv.Itoa(repeat), "--format", format)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	return cmd.Run()
}

func atoiCap(s string) int {
	if s == "unbounded" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		fail("--capacity must be 0, a positive number or unbounded, not %q", s)
	}
	return n
}
