/**
 * CPU time of the local processes that listen on given TCP ports, read from Linux's /proc: for brokers
 * that do not report their own CPU (RabbitMQ's Erlang VM), where Redis has `INFO cpu`.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** /proc reports CPU time in clock ticks of USER_HZ, which Linux fixes at 100 for user space. */
const TICKS_PER_SECOND = 100;
const LISTEN = '0A';

/**
 * The pids listening on `ports` on this host, one per port, or undefined when /proc is missing (not
 * Linux) or a port has no local listener (a remote broker).
 */
export function listeningPids(ports: number[]): number[] | undefined {
  const inodes = new Map<string, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const port = Number.parseInt(fields[1]?.split(':')[1] ?? '', 16);
      if (fields[3] === LISTEN && ports.includes(port)) inodes.set(`socket:[${fields[9]}]`, port);
    }
  }
  const owners = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const port = inodes.get(target);
      if (port !== undefined) owners.set(port, Number(pid));
    }
  }
  const pids = ports.map((port) => owners.get(port));
  return pids.every((pid) => pid !== undefined) ? [...new Set(pids as number[])] : undefined;
}

/** User + system CPU seconds `pids` have used so far (their own threads; not their children). */
export function cpuSecondsOf(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are
    // the 14th and 15th fields of the line, the 12th and 13th after the name.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks / TICKS_PER_SECOND;
}
