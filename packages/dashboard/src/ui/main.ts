// The dashboard's page. Every piece of message content reaches the DOM through text nodes and
// attribute values set by property (see `h`), never as HTML, so a payload cannot become markup.
import uPlot from 'uplot';

type Child = Node | string | number | null | undefined | false;
type Attributes = Record<string, string | number | boolean | ((event: Event) => void) | undefined>;

/** Builds an element; strings become text nodes, `on*` attributes become listeners. */
function h(tag: string, attributes: Attributes = {}, ...children: Child[]): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'value') (element as HTMLInputElement).value = String(value);
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
  return element;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Calls the JSON API (relative to the page, so any mount path works), with the CSRF header. */
async function api<T>(path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { headers: { accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers = { ...init.headers, 'content-type': 'application/json', 'x-thrun-csrf': '1' };
    init.body = JSON.stringify(body);
  }
  const response = await fetch(`api/${path}`, init);
  const data = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
  if (!response.ok) throw new ApiError(response.status, data.error?.message ?? response.statusText);
  return data as T;
}

interface QueueCounts {
  queue: string;
  group?: string;
  waiting?: number;
  inFlight?: number;
  delayed?: number;
  dead?: number;
  consumers?: number;
  partitions?: { partition: number; lag: number }[];
}
interface Totals {
  dispatched: number;
  handled: number;
  retried: number;
  deadLettered: number;
}
interface Overview {
  transport: { name: string; capabilities: Record<string, unknown> };
  queues: QueueCounts[];
  history: { t: number; queues: QueueCounts[]; totals: Totals }[];
}
interface DeadLetterSummary {
  position: number;
  queue: string;
  event: string | null;
  reason: { code: string; message: string };
  attempts: number;
  failedAt: string;
  sizeBytes: number;
}
interface DeadLetterDetail extends DeadLetterSummary {
  form: string;
  bodyText: string;
  bodyBase64: string;
  envelope: unknown;
}
interface Batch {
  id: string;
  name?: string;
  mode: string;
  status: string;
  total: number;
  completed: number;
  failed: number;
  percent: number;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
  failure?: { message?: string; error?: string; job?: unknown } & Record<string, unknown>;
  stalled: boolean;
}

const root = document.getElementById('app')!;
let stopPage: (() => void) | undefined;
const count = (value: number | undefined) => (value === undefined ? '–' : String(value));

function notice(text: string, kind: 'info' | 'error' = 'info') {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, text);
}

function nav(current: string) {
  const link = (href: string, label: string) =>
    h('a', { href, class: current === href ? 'current' : undefined }, label);
  return h(
    'nav',
    {},
    h('strong', {}, 'Thrun'),
    link('#/queues', 'Queues'),
    link('#/dead', 'Dead letters'),
    link('#/batches', 'Batches'),
  );
}

// ---- Queues -------------------------------------------------------------------------------------

const rowKey = (q: QueueCounts) => `${q.queue}\u0000${q.group ?? ''}`;

/** A line chart over the sampled times; one series per label, values picked from each sample. */
function lineChart(title: string, labels: [string, string][], target: HTMLElement) {
  let chart: uPlot | undefined;
  return {
    update(data: uPlot.AlignedData) {
      chart ??= new uPlot(
        {
          title,
          width: Math.min(900, root.clientWidth || 900),
          height: 220,
          series: [{}, ...labels.map(([label, stroke]) => ({ label, stroke }))],
        },
        data,
        target,
      );
      chart.setData(data);
    },
    destroy() {
      chart?.destroy();
      chart = undefined;
    },
  };
}

function queuesPage(): () => void {
  const table = h('tbody', { 'data-testid': 'queues' });
  const status = h('p', { class: 'muted' });
  const depthBox = h('div', { class: 'chart', 'data-testid': 'chart' });
  const rateBox = h('div', { class: 'chart', 'data-testid': 'rate-chart' });
  let selected: string | undefined;
  let depthChart: ReturnType<typeof lineChart> | undefined;
  const rateChart = lineChart(
    'Throughput of this process (per second)',
    [
      ['dispatched', '#7c3aed'],
      ['handled', '#16a34a'],
      ['retried', '#ca8a04'],
      ['dead-lettered', '#dc2626'],
    ],
    rateBox,
  );

  const select = (key: string, overview: Overview) => {
    selected = key;
    depthChart?.destroy(); // its title names the queue
    depthChart = undefined;
    draw(overview);
  };
  const draw = (overview: Overview) => {
    const first = overview.queues[0];
    selected ??= first ? rowKey(first) : undefined;
    table.replaceChildren(
      ...overview.queues.map((q) =>
        h(
          'tr',
          {
            'data-queue': q.queue,
            'data-group': q.group ?? '',
            class: rowKey(q) === selected ? 'selected' : undefined,
          },
          h('td', {}, h('a', { href: `#/dead?queue=${encodeURIComponent(q.queue)}` }, q.queue)),
          h('td', {}, q.group ?? ''),
          h('td', { 'data-count': 'waiting' }, count(q.waiting)),
          h('td', { 'data-count': 'inFlight' }, count(q.inFlight)),
          h('td', { 'data-count': 'delayed' }, count(q.delayed)),
          h('td', { 'data-count': 'dead' }, count(q.dead)),
          h('td', { 'data-count': 'consumers' }, count(q.consumers)),
          h(
            'td',
            { class: 'muted' },
            (q.partitions ?? []).map((p) => `p${p.partition}: ${p.lag}`).join(', '),
          ),
          h('td', {}, h('button', { type: 'button', onclick: () => select(rowKey(q), overview) }, 'Chart')),
        ),
      ),
    );
    status.textContent = `${overview.transport.name} · updated ${new Date().toLocaleTimeString()}`;
    const times = overview.history.map((s) => s.t);
    const of = (s: { queues: QueueCounts[] }) => s.queues.find((q) => rowKey(q) === selected);
    const series = (key: 'waiting' | 'inFlight' | 'delayed' | 'dead') =>
      overview.history.map((s) => of(s)?.[key] ?? null);
    if (selected !== undefined) {
      depthChart ??= lineChart(
        `Queue ${selected.replace('\u0000', ' ')}`,
        [
          ['waiting', '#2563eb'],
          ['in flight', '#16a34a'],
          ['delayed', '#ca8a04'],
          ['dead', '#dc2626'],
        ],
        depthBox,
      );
      depthChart.update([times, series('waiting'), series('inFlight'), series('delayed'), series('dead')]);
    }
    // Rates from consecutive readings of this process's counters.
    const rate = (key: keyof Totals) =>
      overview.history.map((s, i) => {
        const before = overview.history[i - 1];
        return before ? Math.max(0, (s.totals[key] - before.totals[key]) / (s.t - before.t)) : null;
      });
    rateChart.update([times, rate('dispatched'), rate('handled'), rate('retried'), rate('deadLettered')]);
  };

  const refresh = async () => {
    try {
      draw(await api<Overview>('overview'));
    } catch (error) {
      status.textContent = `could not read the queues: ${(error as Error).message}`;
    }
  };
  const headings = [
    'queue',
    'group',
    'waiting',
    'in flight',
    'delayed',
    'dead',
    'consumers',
    'partition lag',
    '',
  ];
  root.replaceChildren(
    nav('#/queues'),
    h('h1', {}, 'Queues'),
    status,
    h('table', {}, h('thead', {}, h('tr', {}, ...headings.map((t) => h('th', {}, t)))), table),
    depthBox,
    rateBox,
  );
  void refresh();
  const timer = setInterval(refresh, 1_000);
  return () => {
    clearInterval(timer);
    depthChart?.destroy();
    rateChart.destroy();
  };
}

// ---- Dead letters -------------------------------------------------------------------------------

interface ReplayJob {
  id: string;
  state: 'running' | 'done' | 'failed';
  progress: { seen: number; replayed: number; kept: number; total?: number };
  error?: string;
}

/** Starts a replay on the server and shows its progress in `target` until it ends. */
async function followReplay(queue: string, filter: object, target: HTMLElement): Promise<ReplayJob> {
  let job = await api<ReplayJob>(`dead/${encodeURIComponent(queue)}/replay`, filter);
  const bar = h('progress', { max: 1, value: 0, 'data-testid': 'replay-progress' });
  const label = h('span', {});
  target.replaceChildren(h('p', {}, bar, ' ', label));
  for (;;) {
    const { seen, replayed, total } = job.progress;
    if (total) (bar as HTMLProgressElement).max = total;
    (bar as HTMLProgressElement).value = seen;
    label.textContent = `replaying: ${replayed} replayed, ${seen} of ${total ?? '?'} looked at`;
    if (job.state !== 'running') break;
    await new Promise((resolve) => setTimeout(resolve, 300));
    job = await api<ReplayJob>(`replays/${encodeURIComponent(job.id)}`);
  }
  const { replayed, kept } = job.progress;
  target.replaceChildren(
    job.state === 'done'
      ? notice(`replayed ${replayed}, kept ${kept}`)
      : notice(`replay failed after ${replayed}: ${job.error ?? 'unknown error'}`, 'error'),
  );
  return job;
}

async function deadPage(params: URLSearchParams): Promise<void> {
  const overview = await api<Overview>('overview');
  const names = [...new Set(overview.queues.map((q) => q.queue))];
  // Without a choice, the first queue that has dead letters.
  const queue =
    params.get('queue') ?? overview.queues.find((q) => (q.dead ?? 0) > 0)?.queue ?? names[0] ?? 'events';
  const field = (name: string, label: string) =>
    h(
      'label',
      {},
      label,
      h('input', { name, value: params.get(name) ?? '', 'data-testid': `filter-${name}` }),
    );
  const form = h(
    'form',
    { class: 'filters', 'data-testid': 'dead-search' },
    h(
      'label',
      {},
      'queue',
      h(
        'select',
        { name: 'queue' },
        ...names.map((name) => h('option', { value: name, selected: name === queue }, name)),
      ),
    ),
    field('event', 'event'),
    field('reason', 'reason'),
    field('text', 'text'),
    h('button', { type: 'submit' }, 'Search'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const values = new URLSearchParams();
    for (const [key, value] of new FormData(form as HTMLFormElement))
      if (value) values.set(key, String(value));
    location.hash = `#/dead?${values}`;
  });
  const filter = {
    event: params.get('event') ?? undefined,
    reason: params.get('reason') ?? undefined,
    text: params.get('text') ?? undefined,
  };
  const message = h('div', {});
  const rows = h('tbody', { 'data-testid': 'dead-letters' });
  const query = new URLSearchParams(Object.entries(filter).filter((e): e is [string, string] => !!e[1]));
  const list = await api<{ total: number; entries: DeadLetterSummary[] }>(
    `dead/${encodeURIComponent(queue)}?${query}`,
  );
  rows.replaceChildren(
    ...list.entries.map((e) =>
      h(
        'tr',
        { 'data-position': e.position },
        h('td', {}, e.position),
        h('td', { class: 'event' }, e.event ?? '(not an envelope)'),
        h('td', {}, h('code', {}, e.reason.code)),
        h('td', { class: 'reason' }, e.reason.message),
        h('td', {}, e.attempts),
        h('td', {}, e.failedAt),
        h('td', {}, h('a', { href: `#/dead/${encodeURIComponent(queue)}/${e.position}` }, 'Inspect')),
      ),
    ),
  );
  const replay = async () => {
    const job = await followReplay(queue, filter, message);
    const outcome = message.cloneNode(true);
    await route(); // the list without what was replayed
    if (job.state !== 'running') root.append(...outcome.childNodes);
  };
  const purge = async () => {
    if (!confirm(`Remove every dead letter of ${queue}? This cannot be undone.`)) return;
    const result = await api<{ purged: number }>(`dead/${encodeURIComponent(queue)}/purge`, {});
    message.replaceChildren(notice(`purged ${result.purged}`));
  };
  root.replaceChildren(
    nav('#/dead'),
    h('h1', {}, `Dead letters of ${queue}`),
    form,
    h('p', { class: 'muted' }, `${list.entries.length} shown of ${list.total}`),
    h(
      'div',
      { class: 'actions' },
      h(
        'button',
        { type: 'button', onclick: () => void replay().catch(showError), 'data-testid': 'replay' },
        'Replay shown',
      ),
      h(
        'button',
        { type: 'button', class: 'danger', onclick: () => void purge().catch(showError) },
        'Purge all',
      ),
    ),
    message,
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['#', 'event', 'reason', 'message', 'attempts', 'failed at', ''].map((t) => h('th', {}, t)),
        ),
      ),
      rows,
    ),
  );
}

async function inspectPage(queue: string, position: number): Promise<void> {
  const entry = await api<DeadLetterDetail>(`dead/${encodeURIComponent(queue)}/${position}`);
  const message = h('div', {});
  const replay = async () => {
    await followReplay(queue, { positions: [position] }, message);
  };
  const row = (label: string, value: Child) => h('tr', {}, h('th', {}, label), h('td', {}, value));
  root.replaceChildren(
    nav('#/dead'),
    h('h1', {}, `Dead letter ${position} of ${queue}`),
    h(
      'table',
      { class: 'facts', 'data-testid': 'inspect' },
      row('event', entry.event ?? '(not an envelope)'),
      row('reason', h('span', {}, h('code', {}, entry.reason.code), ' ', entry.reason.message)),
      row('attempts', entry.attempts),
      row('failed at', entry.failedAt),
      row('size', `${entry.sizeBytes} bytes`),
      row('stored as', entry.form),
    ),
    h(
      'div',
      { class: 'actions' },
      h('button', { type: 'button', onclick: () => void replay().catch(showError) }, 'Replay'),
    ),
    message,
    h('h2', {}, 'Decoded envelope'),
    h(
      'pre',
      { 'data-testid': 'envelope' },
      entry.envelope === null
        ? '(the bytes are not a valid envelope)'
        : JSON.stringify(entry.envelope, null, 2),
    ),
    h('h2', {}, 'Original bytes'),
    h('pre', { 'data-testid': 'body' }, entry.bodyText),
    h('details', {}, h('summary', {}, 'base64'), h('pre', {}, entry.bodyBase64)),
  );
}

// ---- Batches ------------------------------------------------------------------------------------

async function batchesPage(params: URLSearchParams): Promise<() => void> {
  const id = params.get('id') ?? '';
  const view = h('div', { 'data-testid': 'batch' });
  const form = h(
    'form',
    { class: 'filters' },
    h('label', {}, 'batch id', h('input', { name: 'id', value: id, size: 40 })),
    h('button', { type: 'submit' }, 'Show'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const value = String(new FormData(form as HTMLFormElement).get('id') ?? '');
    location.hash = `#/batches?id=${encodeURIComponent(value)}`;
  });
  root.replaceChildren(nav('#/batches'), h('h1', {}, 'Batches'), form, view);
  if (!id) return batchList(view);

  const draw = (batch: Batch) => {
    const lifecycle = [
      ['created', batch.createdAt],
      ['updated', batch.updatedAt],
      ['finished', batch.finishedAt],
    ].filter((e): e is [string, string] => !!e[1]);
    view.replaceChildren(
      h('h2', {}, batch.name ?? batch.id),
      h(
        'p',
        {},
        h('span', { class: `status ${batch.status}`, 'data-testid': 'batch-status' }, batch.status),
        batch.stalled ? h('span', { class: 'status stalled' }, 'stalled') : '',
        ` ${batch.mode}`,
      ),
      h('progress', { max: 100, value: batch.percent }),
      h(
        'span',
        { 'data-testid': 'batch-progress' },
        ` ${batch.completed + batch.failed} / ${batch.total} (${batch.percent}%)`,
      ),
      h('ul', {}, ...lifecycle.map(([label, at]) => h('li', {}, `${label} ${at}`))),
      batch.failure ? h('pre', {}, JSON.stringify(batch.failure, null, 2)) : '',
      batch.status === 'running'
        ? h(
            'button',
            {
              type: 'button',
              class: 'danger',
              onclick: () =>
                void (async () => {
                  if (!confirm('Cancel this batch? No further step will run.')) return;
                  await api(`batches/${encodeURIComponent(id)}/cancel`, {});
                  await refresh();
                })().catch(showError),
            },
            'Cancel batch',
          )
        : '',
    );
  };
  const refresh = async () => {
    try {
      draw(await api<Batch>(`batches/${encodeURIComponent(id)}`));
    } catch (error) {
      view.replaceChildren(notice((error as Error).message, 'error'));
    }
  };
  await refresh();
  const timer = setInterval(refresh, 1_000);
  return () => clearInterval(timer);
}

function batchList(view: HTMLElement): () => void {
  const rows = h('tbody', { 'data-testid': 'batches' });
  view.replaceChildren(
    h(
      'table',
      {},
      h(
        'thead',
        {},
        h('tr', {}, ...['batch', 'status', 'progress', 'created', 'finished'].map((t) => h('th', {}, t))),
      ),
      rows,
    ),
  );
  const refresh = async () => {
    try {
      const { batches } = await api<{ batches: Batch[] }>('batches');
      rows.replaceChildren(
        ...batches.map((b) =>
          h(
            'tr',
            { 'data-batch': b.id },
            h('td', {}, h('a', { href: `#/batches?id=${encodeURIComponent(b.id)}` }, b.name ?? b.id)),
            h('td', {}, h('span', { class: `status ${b.status}` }, b.status), b.stalled ? 'stalled' : ''),
            h(
              'td',
              {},
              h('progress', { max: 100, value: b.percent }),
              ` ${b.completed + b.failed}/${b.total}`,
            ),
            h('td', {}, b.createdAt),
            h('td', {}, b.finishedAt ?? ''),
          ),
        ),
      );
    } catch (error) {
      view.replaceChildren(notice((error as Error).message, 'error'));
    }
  };
  void refresh();
  const timer = setInterval(refresh, 2_000);
  return () => clearInterval(timer);
}

// ---- Routing ------------------------------------------------------------------------------------

function showError(error: unknown) {
  root.append(notice(error instanceof Error ? error.message : String(error), 'error'));
}

async function route(): Promise<void> {
  stopPage?.();
  stopPage = undefined;
  const [path = '', query = ''] = location.hash.slice(1).split('?');
  const params = new URLSearchParams(query);
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === 'dead' && parts.length === 3) await inspectPage(parts[1]!, Number(parts[2]));
    else if (parts[0] === 'dead') await deadPage(params);
    else if (parts[0] === 'batches') stopPage = await batchesPage(params);
    else stopPage = queuesPage();
  } catch (error) {
    root.replaceChildren(nav(''), notice(error instanceof Error ? error.message : String(error), 'error'));
  }
}

window.addEventListener('hashchange', () => void route());
void route();
