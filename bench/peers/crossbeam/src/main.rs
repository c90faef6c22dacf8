//! crossbeam-bench: the csp-bench workloads written with crossbeam-channel on OS threads,
//! so csp can be compared against the Rust library whose workload set it borrows. Flags,
//! workloads and output mirror csp-bench (see bench/peers/README.md and the "Bench
//! contract" in DESIGN.md).
//!
//! Every workload moves u64 values and checks the sum it received, so a broken run fails
//! loudly instead of printing a fast number. Every producer and consumer is its own OS
//! thread: `--threads` cannot change that, it is only reported (with a note).

use crossbeam_channel::{bounded, unbounded, Receiver, Select, Sender};
use std::process::exit;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const IMPL: &str = "crossbeam";
const WORKLOADS: [&str; 7] = ["spsc", "mpsc", "mpmc", "select_rx", "select_both", "pingpong", "chain"];
/// chain runs one OS thread per link, so it is capped far below Go's goroutine count.
const CHAIN_MAX: usize = 1000;
const CHAIN_STACK: usize = 64 * 1024;
const THREADS_NOTE: &str = "crossbeam runs one OS thread per producer/consumer";

#[derive(Clone, Copy, PartialEq)]
enum Cap {
    Bounded(usize), // 0 is rendezvous
    Unbounded,
}

impl Cap {
    fn parse(s: &str) -> Cap {
        if s == "unbounded" {
            return Cap::Unbounded;
        }
        match s.parse::<usize>() {
            Ok(n) => Cap::Bounded(n),
            Err(_) => fail(&format!("--capacity must be 0, a positive number or unbounded, not {:?}", s)),
        }
    }
    fn json(self) -> String {
        match self {
            Cap::Bounded(n) => n.to_string(),
            Cap::Unbounded => "\"unbounded\"".to_string(),
        }
    }
    fn text(self) -> String {
        match self {
            Cap::Bounded(n) => n.to_string(),
            Cap::Unbounded => "unbounded".to_string(),
        }
    }
}

fn channel<T>(cap: Cap) -> (Sender<T>, Receiver<T>) {
    match cap {
        Cap::Bounded(n) => bounded(n),
        Cap::Unbounded => unbounded(),
    }
}

#[derive(Clone)]
struct Config {
    workload: String,
    cap: Cap,
    threads: usize,
    producers: usize,
    consumers: usize,
    messages: usize,
}

fn fail(msg: &str) -> ! {
    eprintln!("crossbeam-bench: {}", msg);
    exit(2)
}

fn check(got: u64, want: u64, what: &str) {
    if got != want {
        fail(&format!("{}: checksum {}, want {}", what, got, want));
    }
}

/// 0 + 1 + ... + (n-1)
fn sum_to(n: usize) -> u64 {
    let n = n as u64;
    if n == 0 { 0 } else { n * (n - 1) / 2 }
}

// ---- workloads: each returns the elapsed wall time of one run ----

/// The start gate, so the clock window is csp-bench's: every thread is spawned first and
/// calls `wait`; `open` (on the main thread) waits until all have arrived, starts the clock
/// and lets them go. Thread creation is outside the clock, as in csp-bench. (chain is the
/// exception: spawning is what it measures, so it has no gate.)
struct Gate {
    ready: Barrier,
    go: Barrier,
}

impl Gate {
    fn new(threads: usize) -> Arc<Gate> {
        Arc::new(Gate { ready: Barrier::new(threads + 1), go: Barrier::new(threads + 1) })
    }
    fn wait(&self) {
        self.ready.wait();
        self.go.wait();
    }
    fn open(&self) -> Instant {
        self.ready.wait();
        let start = Instant::now();
        self.go.wait();
        start
    }
}

fn run_spsc(c: &Config) -> Duration {
    let n = c.messages as u64;
    let (tx, rx) = channel::<u64>(c.cap);
    let gate = Gate::new(2);
    let g = gate.clone();
    let consumer = thread::spawn(move || {
        g.wait();
        rx.iter().sum::<u64>()
    });
    let g = gate.clone();
    let producer = thread::spawn(move || {
        g.wait();
        for i in 0..n {
            tx.send(i).unwrap();
        }
    });
    let start = gate.open();
    producer.join().unwrap();
    let sum = consumer.join().unwrap();
    let elapsed = start.elapsed();
    check(sum, sum_to(c.messages), "spsc");
    elapsed
}

/// mpsc (consumers == 1) and mpmc. Producer p sends p*per .. p*per+per-1, so everything
/// received adds up to 0 + 1 + ... + (messages-1). The channel disconnects when the last
/// producer drops its sender.
fn run_mpmc(c: &Config) -> Duration {
    let per = (c.messages / c.producers) as u64;
    let (tx, rx) = channel::<u64>(c.cap);
    let gate = Gate::new(c.consumers + c.producers);
    let consumers: Vec<_> = (0..c.consumers)
        .map(|_| {
            let (rx, g) = (rx.clone(), gate.clone());
            thread::spawn(move || {
                g.wait();
                rx.iter().sum::<u64>()
            })
        })
        .collect();
    drop(rx);
    let producers: Vec<_> = (0..c.producers as u64)
        .map(|p| {
            let (tx, g) = (tx.clone(), gate.clone());
            thread::spawn(move || {
                g.wait();
                for i in p * per..(p + 1) * per {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    drop(tx);
    let start = gate.open();
    for p in producers {
        p.join().unwrap();
    }
    let sum: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed();
    check(sum, sum_to(c.messages), &c.workload);
    elapsed
}

/// Receives by one `Select` over all receivers until every channel is disconnected and
/// drained; a disconnected channel is removed from the select.
fn select_recv_all(rxs: &[Receiver<u64>]) -> u64 {
    let mut sel = Select::new();
    for r in rxs {
        sel.recv(r);
    }
    let mut sum = 0;
    let mut open = rxs.len();
    while open > 0 {
        let oper = sel.select();
        let i = oper.index();
        match oper.recv(&rxs[i]) {
            Ok(v) => sum += v,
            Err(_) => {
                sel.remove(i);
                open -= 1;
            }
        }
    }
    sum
}

/// Sends each value in `values` by one `Select` over all senders.
fn select_send_all(txs: &[Sender<u64>], values: std::ops::Range<u64>) {
    let mut sel = Select::new();
    for s in txs {
        sel.send(s);
    }
    for v in values {
        let oper = sel.select();
        let i = oper.index();
        oper.send(&txs[i], v).unwrap();
    }
}

fn make_channels(n: usize, cap: Cap) -> (Vec<Sender<u64>>, Vec<Receiver<u64>>) {
    (0..n).map(|_| channel::<u64>(cap)).unzip()
}

/// Producer p sends its share on its own channel and drops it; one consumer selects.
fn run_select_rx(c: &Config) -> Duration {
    let per = (c.messages / c.producers) as u64;
    let (txs, rxs) = make_channels(c.producers, c.cap);
    let gate = Gate::new(1 + c.producers);
    let g = gate.clone();
    let consumer = thread::spawn(move || {
        g.wait();
        select_recv_all(&rxs)
    });
    let producers: Vec<_> = txs
        .into_iter()
        .enumerate()
        .map(|(p, tx)| {
            let (p, g) = (p as u64, gate.clone());
            thread::spawn(move || {
                g.wait();
                for i in p * per..(p + 1) * per {
                    tx.send(i).unwrap();
                }
            })
        })
        .collect();
    let start = gate.open();
    for p in producers {
        p.join().unwrap();
    }
    let sum = consumer.join().unwrap();
    let elapsed = start.elapsed();
    check(sum, sum_to(c.messages), "select_rx");
    elapsed
}

/// P channels; every producer sends each value by select over all P senders, every
/// consumer receives by select over all P receivers. The channels disconnect when the last
/// producer drops its senders.
fn run_select_both(c: &Config) -> Duration {
    let per = (c.messages / c.producers) as u64;
    let (txs, rxs) = make_channels(c.producers, c.cap);
    let gate = Gate::new(c.consumers + c.producers);
    let consumers: Vec<_> = (0..c.consumers)
        .map(|_| {
            let (rxs, g) = (rxs.clone(), gate.clone());
            thread::spawn(move || {
                g.wait();
                select_recv_all(&rxs)
            })
        })
        .collect();
    drop(rxs);
    let producers: Vec<_> = (0..c.producers as u64)
        .map(|p| {
            let (txs, g) = (txs.clone(), gate.clone());
            thread::spawn(move || {
                g.wait();
                select_send_all(&txs, p * per..(p + 1) * per)
            })
        })
        .collect();
    drop(txs);
    let start = gate.open();
    for p in producers {
        p.join().unwrap();
    }
    let sum: u64 = consumers.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed();
    check(sum, sum_to(c.messages), "select_both");
    elapsed
}

/// messages/2 round trips between two threads over two rendezvous channels.
fn run_pingpong(c: &Config) -> Duration {
    let trips = (c.messages / 2) as u64;
    let (ping_tx, ping_rx) = bounded::<u64>(0);
    let (pong_tx, pong_rx) = bounded::<u64>(0);
    let gate = Gate::new(1);
    let g = gate.clone();
    let echo = thread::spawn(move || {
        g.wait();
        for v in ping_rx.iter() {
            pong_tx.send(v + 1).unwrap();
        }
    });
    let start = gate.open();
    let mut v = 0;
    for _ in 0..trips {
        ping_tx.send(v).unwrap();
        v = pong_rx.recv().unwrap();
    }
    drop(ping_tx);
    echo.join().unwrap();
    let elapsed = start.elapsed();
    check(v, trips, "pingpong");
    elapsed
}

/// `messages` threads in a daisy chain over rendezvous channels: spawn them all, pass one
/// value from end to end (each adds 1), join every thread.
fn run_chain(c: &Config) -> Duration {
    let n = c.messages;
    let start = Instant::now();
    let (first, mut prev) = bounded::<u64>(0);
    let mut links = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = bounded::<u64>(0);
        let input = prev;
        links.push(
            thread::Builder::new()
                .stack_size(CHAIN_STACK)
                .spawn(move || {
                    let v = input.recv().unwrap();
                    tx.send(v + 1).unwrap();
                })
                .unwrap_or_else(|e| fail(&format!("chain: cannot spawn thread: {}", e))),
        );
        prev = rx;
    }
    first.send(0).unwrap();
    let v = prev.recv().unwrap();
    for h in links {
        h.join().unwrap();
    }
    let elapsed = start.elapsed();
    check(v, n as u64, "chain");
    elapsed
}

// ---- running and reporting ----

/// VmHWM from /proc/self/status: the process's peak resident set, in kB. (Not getrusage's
/// ru_maxrss, which Linux carries across execve from the parent process.)
fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

struct Outcome {
    cfg: Config,
    ns_median: f64,
    ns_min: f64,
    rss_kb: u64,
    notes: Vec<String>,
}

/// Fixes the shape each workload dictates and rounds messages to what is really sent, so
/// the row reports exactly what ran.
fn normalize(mut c: Config) -> (Config, Vec<String>) {
    let mut notes = vec![THREADS_NOTE.to_string()];
    match c.workload.as_str() {
        "spsc" => {
            c.producers = 1;
            c.consumers = 1;
        }
        "mpsc" | "select_rx" => c.consumers = 1,
        "pingpong" | "chain" => {
            c.producers = 1;
            c.consumers = 1;
            if c.cap != Cap::Bounded(0) {
                notes.push(format!("capacity ignored: {} uses rendezvous channels", c.workload));
            }
            c.cap = Cap::Bounded(0);
        }
        _ => {}
    }
    match c.workload.as_str() {
        "mpsc" | "mpmc" | "select_rx" | "select_both" => c.messages -= c.messages % c.producers,
        "pingpong" => c.messages -= c.messages % 2,
        "chain" if c.messages > CHAIN_MAX => {
            notes.push(format!(
                "chain uses one OS thread per link: capped at {} (asked {})",
                CHAIN_MAX, c.messages
            ));
            c.messages = CHAIN_MAX;
        }
        _ => {}
    }
    if c.workload.starts_with("select_") {
        notes.push("select by crossbeam_channel::Select (dynamic)".into());
    }
    (c, notes)
}

fn run(c: Config, repeat: usize) -> Outcome {
    let (c, notes) = normalize(c);
    let f: fn(&Config) -> Duration = match c.workload.as_str() {
        "spsc" => run_spsc,
        "mpsc" | "mpmc" => run_mpmc,
        "select_rx" => run_select_rx,
        "select_both" => run_select_both,
        "pingpong" => run_pingpong,
        _ => run_chain,
    };
    let mut ns: Vec<f64> = (0..repeat)
        .map(|_| f(&c).as_nanos() as f64 / c.messages as f64)
        .collect();
    ns.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = if repeat % 2 == 1 {
        ns[repeat / 2]
    } else {
        (ns[repeat / 2 - 1] + ns[repeat / 2]) / 2.0
    };
    Outcome { cfg: c, ns_median: median, ns_min: ns[0], rss_kb: peak_rss_kb(), notes }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn csv_field(s: &str) -> String {
    if s.contains(',') || s.contains('"') || s.contains('\n') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Rounds to 3 decimals and drops trailing zeros, like Go's encoding/json would print.
fn num3(x: f64) -> String {
    let s = format!("{:.3}", x);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

fn print_outcome(format: &str, o: &Outcome) {
    let c = &o.cfg;
    let rate = (1e9 / o.ns_median).round();
    let note = o.notes.join("; ");
    match format {
        "json" => println!(
            "{{\"impl\":\"{}\",\"workload\":{},\"capacity\":{},\"threads\":{},\"producers\":{},\
             \"consumers\":{},\"messages\":{},\"ns_per_msg\":{},\"ns_per_msg_min\":{},\
             \"msgs_per_sec\":{},\"peak_rss_kb\":{},\"note\":{}}}",
            IMPL,
            json_string(&c.workload),
            c.cap.json(),
            c.threads,
            c.producers,
            c.consumers,
            c.messages,
            num3(o.ns_median),
            num3(o.ns_min),
            rate,
            o.rss_kb,
            json_string(&note)
        ),
        "csv" => println!(
            "{},{},{},{},{},{},{},{},{},{},{},{},",
            IMPL,
            c.workload,
            c.cap.text(),
            c.threads,
            c.producers,
            c.consumers,
            c.messages,
            num3(o.ns_median),
            num3(o.ns_min),
            rate,
            o.rss_kb,
            csv_field(&note)
        ),
        _ => println!(
            "{:<9} {:<12} {:>9} {:>3} {:>3} {:>3} {:>10} {:>10.1} {:>10.1} {:>14} {:>9}",
            IMPL,
            c.workload,
            c.cap.text(),
            c.threads,
            c.producers,
            c.consumers,
            c.messages,
            o.ns_median,
            o.ns_min,
            rate,
            o.rss_kb
        ),
    }
}

fn print_header(format: &str) {
    match format {
        "csv" => println!(
            "impl,workload,capacity,threads,producers,consumers,messages,ns_per_msg,\
             ns_per_msg_min,msgs_per_sec,peak_rss_kb,note,skipped"
        ),
        "table" => println!(
            "{:<9} {:<12} {:>9} {:>3} {:>3} {:>3} {:>10} {:>10} {:>10} {:>14} {:>9}",
            "impl", "workload", "capacity", "thr", "P", "C", "messages", "ns/msg", "min",
            "msgs/s", "rss_kb"
        ),
        _ => {}
    }
}

/// spsc's default: `--suite --messages N` scales every default by N / this (as csp-bench).
const SUITE_REFERENCE_MESSAGES: f64 = 1e6;

/// csp-bench's default_messages (bench/csp-bench/workload.cpp), so the same command line
/// runs the same count: spsc/mpsc/mpmc 1e6, select_* 1e5, pingpong 2e5, chain 1e5, and
/// 1/50 of that at threads > 1 for capacity 0 or 1 and pingpong (chain excepted). The one
/// difference: chain is capped at CHAIN_MAX threads (normalize says so in the row's note),
/// so bench/compare reports the chain row as not comparable.
fn default_messages(workload: &str, cap: Cap, threads: usize) -> usize {
    let base = match workload {
        "spsc" | "mpsc" | "mpmc" => 1_000_000,
        "pingpong" => 200_000,
        "chain" => return CHAIN_MAX,
        _ => 100_000, // select_rx, select_both
    };
    let crosses = workload == "pingpong" || matches!(cap, Cap::Bounded(n) if n < 2);
    if threads > 1 && crosses { base / 50 } else { base }
}

const USAGE: &str = "usage: crossbeam-bench [--workload spsc|mpsc|mpmc|select_rx|select_both|pingpong|chain]
       [--capacity 0|N|unbounded] [--producers P] [--consumers C] [--messages M]
       [--threads T] [--repeat R] [--format json|table|csv] [--suite [--in-process]]
Flags take one or two dashes, and their value after a space or '='.
--messages 0 (the default) picks the workload's default count (csp-bench's, with chain capped
at 1000 threads); with --suite,
--messages N scales every default by N/1e6. --suite runs each row in a child process
unless --in-process. Every producer/consumer is an OS thread; --threads is only reported.";

fn main() {
    let mut workload = "spsc".to_string();
    let mut cap = "0".to_string();
    let (mut producers, mut consumers, mut messages) = (4usize, 4usize, 0usize);
    let (mut threads, mut repeat) = (1usize, 3usize);
    let mut format = "table".to_string();
    let mut suite = false;
    let mut in_process = false;
    let mut no_header = false;

    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let stripped = arg
            .strip_prefix("--")
            .or_else(|| arg.strip_prefix('-'))
            .unwrap_or_else(|| fail(&format!("unexpected argument {:?}\n{}", arg, USAGE)));
        let (name, inline) = match stripped.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (stripped, None),
        };
        match name {
            "suite" => {
                suite = inline.map_or(true, |v| v == "true" || v == "1");
                continue;
            }
            "in-process" => {
                in_process = true;
                continue;
            }
            "no-header" => {
                no_header = true;
                continue;
            }
            "h" | "help" => {
                println!("{}", USAGE);
                return;
            }
            _ => {}
        }
        let value = match inline {
            Some(v) => v,
            None if i < args.len() => {
                i += 1;
                args[i - 1].clone()
            }
            None => fail(&format!("flag --{} needs a value", name)),
        };
        let number = |v: &str| -> usize {
            v.parse()
                .unwrap_or_else(|_| fail(&format!("--{} wants a number, not {:?}", name, v)))
        };
        match name {
            "workload" => workload = value,
            "capacity" => cap = value,
            "producers" => producers = number(&value),
            "consumers" => consumers = number(&value),
            "messages" => messages = number(&value),
            "threads" => threads = number(&value),
            "repeat" => repeat = number(&value),
            "format" => format = value,
            _ => fail(&format!("unknown flag {:?}\n{}", arg, USAGE)),
        }
    }
    if !["json", "table", "csv"].contains(&format.as_str()) {
        fail(&format!("--format must be json, table or csv, not {:?}", format));
    }
    if repeat < 1 || threads < 1 || producers < 1 || consumers < 1 {
        fail("--repeat, --threads, --producers and --consumers must be >= 1");
    }

    let mut scale = 1.0;
    if suite && messages > 0 {
        scale = messages as f64 / SUITE_REFERENCE_MESSAGES;
    }
    let base = Config {
        workload: String::new(),
        cap: Cap::Bounded(0),
        threads,
        producers,
        consumers,
        messages,
    };
    let mut rows = Vec::new();
    if suite {
        for w in WORKLOADS {
            let caps: &[&str] = if w == "pingpong" || w == "chain" {
                &["0"]
            } else {
                &["0", "1", "1024", "unbounded"]
            };
            for cp in caps {
                for t in [1, 2] {
                    rows.push(Config {
                        workload: w.to_string(),
                        cap: Cap::parse(cp),
                        threads: t,
                        messages: 0,
                        ..base.clone()
                    });
                }
            }
        }
    } else {
        if !WORKLOADS.contains(&workload.as_str()) {
            fail(&format!("unknown --workload {:?} (want one of {})", workload, WORKLOADS.join(", ")));
        }
        rows.push(Config { workload, cap: Cap::parse(&cap), ..base });
    }

    if !no_header {
        print_header(&format);
    }
    let mut failures = 0;
    for mut c in rows {
        if c.messages == 0 {
            let m = (default_messages(&c.workload, c.cap, c.threads) as f64 * scale).round();
            c.messages = m.max(1.0) as usize;
        }
        if suite && !in_process {
            // Each row in a child process of its own, like csp-bench: its peak_rss_kb is that
            // row's alone, and a row that fails does not stop the suite.
            if let Err(e) = run_child(&c, repeat, &format) {
                eprintln!(
                    "crossbeam-bench: FAILED {} capacity {} threads {}: {}",
                    c.workload,
                    c.cap.text(),
                    c.threads,
                    e
                );
                failures += 1;
            }
            continue;
        }
        print_outcome(&format, &run(c, repeat));
    }
    if failures > 0 {
        eprintln!("crossbeam-bench: {} row(s) failed", failures);
        exit(1);
    }
}

fn run_child(c: &Config, repeat: usize, format: &str) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = std::process::Command::new(exe)
        .args(["--no-header", "--workload", &c.workload, "--capacity", &c.cap.text()])
        .args(["--threads", &c.threads.to_string(), "--producers", &c.producers.to_string()])
        .args(["--consumers", &c.consumers.to_string(), "--messages", &c.messages.to_string()])
        .args(["--repeat", &repeat.to_string(), "--format", format])
        .status()
        .map_err(|e| e.to_string())?;
    if status.success() { Ok(()) } else { Err(status.to_string()) }
}
