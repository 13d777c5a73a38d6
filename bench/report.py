"""Turn the results.tsv and facts.tsv of one bench/run.sh run into a Markdown summary.

    report.py RESULTS_TSV FACTS_TSV > summary.md

Figures are medians over the repeats of a workload; error counts are sums.
Ratios and targets use only figures from the same run.
"""
import csv
import statistics
import sys

SOMNIUM_TARGETS = ("somnium-sqlite", "somnium-postgres")
PEER = "fastapi-users"
MEDIAN_COLUMNS = ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms", "cpu_s", "cpu_pct", "rss_before_mib",
                  "rss_peak_mib", "loadavg1")
SUM_COLUMNS = ("requests", "non2xx", "sock_errors", "timeouts", "status_5xx", "status_429", "db_locked")
WORKLOAD_ORDER = ("health", "jwks", "me", "storm_me", "storm_login", "login", "register", "refresh", "mixed",
                  "contention_refresh", "contention_register")


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def load_results(path):
    groups = {}
    for row in csv.DictReader(open(path), delimiter="\t"):
        groups.setdefault((row["target"], row["suite"], int(row["conns"])), []).append(row)
    table = {}
    for key, rows in groups.items():
        merged = {"n": len(rows), "notes": " / ".join(r["notes"] for r in rows if r["notes"])}
        for column in MEDIAN_COLUMNS:
            values = [number(r[column]) for r in rows if number(r[column]) is not None]
            merged[column] = statistics.median(values) if values else None
        for column in SUM_COLUMNS:
            values = [number(r[column]) for r in rows if number(r[column]) is not None]
            merged[column] = int(sum(values)) if values else None
        merged["errors"] = sum(merged[c] or 0 for c in ("non2xx", "sock_errors", "timeouts"))
        table[key] = merged
    return table


def load_facts(path):
    facts = {}
    for row in csv.DictReader(open(path), delimiter="\t"):
        facts.setdefault((row["target"], row["key"]), []).append(row["value"])
    return facts


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def ratio(a, b):
    return a / b if a is not None and b else None


class Report:
    def __init__(self, results, facts):
        self.results = results
        self.facts = facts
        self.lines = []

    def out(self, line=""):
        self.lines.append(line)

    def fact(self, target, key, default=None):
        values = self.facts.get((target, key))
        return values[-1] if values else default

    def fact_numbers(self, target, key):
        return [v for v in (number(x) for x in self.facts.get((target, key), [])) if v is not None]

    def get(self, target, suite, conns=None, column="rps"):
        for (t, s, c), row in self.results.items():
            if t == target and s == suite and (conns is None or c == conns):
                return row.get(column)
        return None

    def requests_per_cpu_s(self, key):
        """Returns requests per server CPU-second, or None for the rows of a two-load measurement,
        whose CPU time the two loads share."""
        if key[1].startswith(("storm_", "contention_")):
            return None
        row = self.results[key]
        return ratio(row["requests"], row["cpu_s"])

    def targets_present(self):
        return [t for t in SOMNIUM_TARGETS if any(k[0] == t for k in self.results)]

    def conns(self):
        values = sorted({c for (_, s, c) in self.results if s == "me"})
        return values[-1] if values else 64

    def hash_bound(self, target="machine"):
        """Returns the argon2id bound for a target: the Rust figure measured next to its logins
        when there is one, else the higher of the figures measured at the start of the run."""
        cores = self.fact("machine", "cores", "2")
        # The Rust anchors always verify on 2 threads, which is the whole machine only on 2 cores.
        rust_covers_all_cores = cores == "2"
        rust_near = number(self.fact(target, "rust_argon2_verify_2threads_per_s"))
        if rust_near and rust_covers_all_cores:
            return rust_near, "Rust argon2 0.5.3, 2 threads, measured just before these logins"
        candidates = []
        rust = number(self.fact("machine", "rust_argon2_verify_2threads_per_s"))
        if rust and rust_covers_all_cores:
            candidates.append((rust, "Rust argon2 0.5.3, 2 threads, at the start of the run"))
        cffi = number(self.fact("machine", f"argon2cffi_verify_{cores}proc_per_s"))
        if cffi:
            candidates.append((cffi, f"argon2-cffi, {cores} processes, at the start of the run"))
        return max(candidates) if candidates else (None, "not measured")

    def login_cpu_share(self, target, conns):
        """Returns the CPU time of one argon2id verification (Rust, 1 thread) over the server CPU
        time per login: the share of a login's CPU that is the hash. It depends far less on
        other work on the machine than the throughput ratio."""
        per_s = number(self.fact(target, "rust_argon2_verify_1thread_per_s")) or number(
            self.fact("machine", "rust_argon2_verify_1thread_per_s"))
        requests, cpu_s = self.get(target, "login", conns, "requests"), self.get(target, "login", conns, "cpu_s")
        if not per_s or not requests or not cpu_s:
            return None
        return (1 / per_s) / (cpu_s / requests)

    def header(self):
        self.out(f"# Somnium benchmark, {self.fact('machine', 'started_utc', '?')}")
        self.out()
        self.out(f"- CPU: {self.fact('machine', 'cpu_model', '?')}, {self.fact('machine', 'cores', '?')} cores; "
                 f"load average at start {self.fact('machine', 'loadavg_at_start', '?')}")
        self.out(f"- Somnium commit {self.fact('machine', 'git_commit', '?')} with "
                 f"{self.fact('machine', 'git_uncommitted_files', '?')} uncommitted files in the work tree")
        self.out(f"- {self.fact('machine', 'settings', '')}")
        self.out(f"- finished {self.fact('machine', 'finished_utc', '?')}")
        self.out()

    def raw_table(self):
        self.out("## Results")
        self.out()
        self.out("Medians over the repeats; error columns are sums. `non-2xx` and `socket` come from wrk; `5xx`, "
                 "`429` and `locked` (log lines naming a busy or locked SQLite database) from the Somnium log. "
                 "CPU and RSS are the server's (all processes of the peer), RSS peak sampled every 100 ms; "
                 "req/CPU-s is requests per second of server CPU time, which other work on the machine "
                 "changes less than req/s. "
                 "The storm and contention rows ran two wrk processes at once and share the server columns.")
        self.out()
        self.out("| target | workload | conns | req/s | p50 ms | p99 ms | max ms | non-2xx | socket | 5xx | 429 | "
                 "locked | CPU s | CPU % | req/CPU-s | RSS before MiB | RSS peak MiB | load | notes |")
        self.out("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
        order = {name: i for i, name in enumerate(WORKLOAD_ORDER)}
        targets = list(SOMNIUM_TARGETS) + [PEER]
        keys = sorted(self.results, key=lambda k: (targets.index(k[0]) if k[0] in targets else 9,
                                                   order.get(k[1], 99), k[2]))
        for key in keys:
            row = self.results[key]
            self.out("| " + " | ".join([
                key[0], key[1], str(key[2]), fmt(row["rps"]), fmt(row["p50_ms"], 2), fmt(row["p99_ms"], 2),
                fmt(row["max_ms"], 1), fmt(row["non2xx"]), fmt((row["sock_errors"] or 0) + (row["timeouts"] or 0)),
                fmt(row["status_5xx"]), fmt(row["status_429"]), fmt(row["db_locked"]), fmt(row["cpu_s"], 2),
                fmt(row["cpu_pct"], 0), fmt(self.requests_per_cpu_s(key)), fmt(row["rss_before_mib"]), fmt(row["rss_peak_mib"]), fmt(row["loadavg1"], 2),
                row["notes"].replace("|", "/"),
            ]) + " |")
        self.out()

    def facts_table(self):
        self.out("## Other measurements")
        self.out()
        self.out("| target | measurement | value |")
        self.out("|---|---|---|")
        skip = {"cpu_model", "cores", "started_utc", "finished_utc", "settings", "git_commit",
                "git_uncommitted_files", "loadavg_at_start"}
        for (target, key), values in self.facts.items():
            if key in skip:
                continue
            self.out(f"| {target} | {key} | {', '.join(values)} |")
        self.out()

    def ratios(self):
        c = self.conns()
        self.out("## Ratios")
        self.out()
        self.out("The argon2id bound is the verifications per second of this machine with Somnium's parameters "
                 "(m=19456 KiB, t=2, p=1).")
        self.out()
        self.out("| Somnium on | figure | value |")
        self.out("|---|---|--:|")
        for target in self.targets_present():
            bound, bound_source = self.hash_bound(target)
            self.out(f"| {target} | argon2id bound ({bound_source}) | {fmt(bound)}/s |")
            peer_rows = [
                ("health", c, "/health/live vs the peer's /healthz"),
                ("me", c, "token-checked GET"),
                ("login", None, "login"),
                ("register", c, "register"),
            ]
            for suite, conns, label in peer_rows:
                conn_values = [conns] if conns else sorted({k[2] for k in self.results if k[1] == suite})
                for cv in conn_values:
                    value = ratio(self.get(target, suite, cv), self.get(PEER, suite, cv))
                    if value is not None:
                        self.out(f"| {target} | {label} req/s at {cv} conns, Somnium/peer | {fmt(value, 2)}× |")
            p99 = ratio(self.get(PEER, "me", c, "p99_ms"), self.get(target, "me", c, "p99_ms"))
            if p99 is not None:
                self.out(f"| {target} | token-checked GET p99, peer/Somnium | {fmt(p99, 2)}× |")
            self.out(f"| {target} | token-checked GET req/s / own /health/live req/s | "
                     f"{fmt(ratio(self.get(target, 'me', c), self.get(target, 'health', c)), 2)} |")
            for cv in sorted({k[2] for k in self.results if k[0] == target and k[1] == "login"}):
                self.out(f"| {target} | login req/s at {cv} conns / argon2id bound | "
                         f"{fmt(ratio(self.get(target, 'login', cv), bound), 2)} |")
                self.out(f"| {target} | login at {cv} conns: argon2id CPU time / server CPU time per login | "
                         f"{fmt(self.login_cpu_share(target, cv), 2)} |")
            self.out(f"| {target} | GET req/s during the login storm / storm-free | "
                     f"{fmt(ratio(self.get(target, 'storm_me', c), self.get(target, 'me', c)), 2)} |")
            self.out(f"| {target} | login req/s during the storm / argon2id bound | "
                     f"{fmt(ratio(self.get(target, 'storm_login', c), bound), 2)} |")
        self.out()

    def verdict(self, ok):
        if ok is None:
            return "–"
        if ok:
            return "met"
        return "**missed**"

    def targets(self):
        c = self.conns()
        rows = []
        for target in self.targets_present():
            bound, _ = self.hash_bound(target)
            login = self.get(target, "login", c)
            share = ratio(login, bound)
            rows.append((target, "login ≥ 90% of the argon2id bound", f"{fmt(login)} req/s = {fmt(share, 2)} of bound",
                         None if share is None else share >= 0.9))
            me, peer_me = self.get(target, "me", c), self.get(PEER, "me", c)
            me_p99, peer_p99 = self.get(target, "me", c, "p99_ms"), self.get(PEER, "me", c, "p99_ms")
            rps_ratio, p99_ratio = ratio(me, peer_me), ratio(peer_p99, me_p99)
            rows.append((target, "token-checked GET ≥ 10× the peer's req/s",
                         f"{fmt(me)} vs {fmt(peer_me)} req/s = {fmt(rps_ratio, 2)}×",
                         None if rps_ratio is None else rps_ratio >= 10))
            rows.append((target, "token-checked GET p99 ≥ 10× lower than the peer's",
                         f"{fmt(me_p99, 2)} vs {fmt(peer_p99, 2)} ms = {fmt(p99_ratio, 2)}×",
                         None if p99_ratio is None else p99_ratio >= 10))
            health_share = ratio(me, self.get(target, "health", c))
            rows.append((target, "token-checked GET ≥ 50% of own /health/live", f"{fmt(health_share, 2)}",
                         None if health_share is None else health_share >= 0.5))
            refresh, refresh_errors = self.get(target, "refresh", c), self.get(target, "refresh", c, "errors")
            if target == "somnium-postgres":
                ok = None if refresh is None else refresh >= 1000 and refresh_errors == 0
                rows.append((target, "refresh rotation ≥ 1,000/s with 0 errors (PostgreSQL)",
                             f"{fmt(refresh)} req/s, {fmt(refresh_errors)} errors", ok))
            storm, storm_p99 = self.get(target, "storm_me", c), self.get(target, "storm_me", c, "p99_ms")
            storm_share = ratio(storm, me)
            rows.append((target, "GETs during the login storm ≥ 30% of storm-free",
                         f"{fmt(storm)} vs {fmt(me)} req/s = {fmt(storm_share, 2)}",
                         None if storm_share is None else storm_share >= 0.3))
            rows.append((target, "GET p99 during the login storm ≤ 25 ms", f"{fmt(storm_p99, 2)} ms",
                         None if storm_p99 is None else storm_p99 <= 25))
            idle = self.fact_numbers(target, "rss_idle_start_mib") + self.fact_numbers(target, "rss_idle_restarted_mib")
            seeded = self.fact_numbers(target, "rss_idle_after_seeding_mib")
            rows.append((target, "RSS ≤ 30 MiB idle (at start, after a restart)", " / ".join(fmt(v) for v in idle) + " MiB",
                         None if not idle else max(idle) <= 30))
            rows.append((target, "RSS ≤ 30 MiB idle after creating the accounts",
                         " / ".join(fmt(v) for v in seeded) + " MiB", None if not seeded else max(seeded) <= 30))
            storm_rss = self.get(target, "storm_me", c, "rss_peak_mib")
            rows.append((target, "RSS ≤ 120 MiB under the login storm", f"{fmt(storm_rss)} MiB",
                         None if storm_rss is None else storm_rss <= 120))
            ready = self.fact_numbers(target, "ready_restart_ms")
            rows.append((target, "ready ≤ 1 s after a restart on an existing database",
                         ", ".join(fmt(v, 0) for v in ready) + " ms", None if not ready else max(ready) <= 1000))
            if target == "somnium-sqlite":
                locked = number(self.fact(target, "log_db_locked"))
                write_suites = ("register", "refresh", "mixed", "contention_refresh", "contention_register")
                failed = sum((row["status_5xx"] or 0) for (t, s, _), row in self.results.items()
                             if t == target and s in write_suites)
                rows.append((target, "no busy or locked failures under concurrent registrations and refreshes",
                             f"{fmt(int(locked) if locked is not None else None)} locked log lines, "
                             f"{fmt(failed)} 5xx in write workloads",
                             None if locked is None else locked == 0 and failed == 0))
        if not any(t == "somnium-postgres" for t in self.targets_present()):
            rows.append(("somnium-postgres", "refresh rotation ≥ 1,000/s with 0 errors (PostgreSQL)",
                         "not measured in this run", None))
        self.out("## Targets")
        self.out()
        self.out("| Somnium on | target | measured | verdict |")
        self.out("|---|---|---|---|")
        for target, name, measured, ok in rows:
            self.out(f"| {target} | {name} | {measured} | {self.verdict(ok)} |")
        self.out()


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    report = Report(load_results(sys.argv[1]), load_facts(sys.argv[2]))
    report.header()
    report.targets()
    report.ratios()
    report.raw_table()
    report.facts_table()
    print("\n".join(report.lines))


if __name__ == "__main__":
    main()
