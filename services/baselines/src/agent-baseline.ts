import { createHash } from 'node:crypto';
import type { FindingRecord } from '@thoth/contracts';
import { ulid } from '@thoth/contracts';
import {
  BLOCKED_BURST_WINDOW_MS,
  blockedBurst,
  type Detection,
  firstSeenTool,
  MAX_CATEGORIES,
  novelArgKey,
  novelArgValue,
  numericOutlier,
  offHours,
  rareTool,
  rateSpike,
  unusualTransition,
} from './detectors.ts';
import { type EscalationEntry, type EscalationSettings, severityOf, withEntry } from './escalation.ts';
import type { CallObservation } from './observations.ts';
import { addToSketch, emptySketch, type QuantileSketch } from './quantile-sketch.ts';

/**
 * One agent's learned baseline and escalation, as plain JSON: the consumer keeps it in memory, persists it
 * after each batch (`baseline_state`), and a restart resumes from it without a new learning period.
 */
export interface AgentBaseline {
  tenant_id: string;
  agent_id: string;
  calls: number;
  first_seen_at: number;
  last_seen_at: number;
  /** When the learning period ended (null while learning); never reopens. */
  learning_ended_at: number | null;
  /** Seen in a decision record: its SDK's TOOL_CALL_PRE events are no longer counted as calls. */
  enforces: boolean;
  tools: Record<string, ToolProfile>;
  /** Calls per hour of day in the configured time zone. */
  hours: number[];
  rate: RateProfile;
  /** Sessions seen recently: length so far and last tool (for transitions). */
  sessions: Record<string, { calls: number; last_tool: string; last_seen: number }>;
  /** Lengths (calls) of sessions idle for SESSION_IDLE_MS. */
  session_length: QuantileSketch;
  /** When calls were blocked by policy, within the blocked-burst window. */
  blocked_at: number[];
  escalation: EscalationEntry[];
  /** Level of the last directive published (null: none or a tombstone). */
  published_level: string | null;
  published_finding_ids: string[];
  /** `detector|subject` → last finding, for the cooldown. */
  cooldowns: Record<string, { at: number; score: number }>;
  /** Applied event ids (bounded): an event published twice (an SDK retry) is not learned twice. */
  recent_event_ids: string[];
  /** `topic/partition` → position of the last record applied, `offset` or `offset:index` (its place in a
   * batch message): a redelivered batch is not learned twice, however long (one agent's records are all on
   * one partition, in order). */
  positions: Record<string, string>;
  /** How many times it was saved: the ReplacingMergeTree version. */
  version: number;
}

export interface ToolProfile {
  calls: number;
  /** Top-level argument name → calls that had it. */
  keys: Record<string, number>;
  numeric: Record<string, QuantileSketch>;
  categorical: Record<string, { values: Record<string, number>; overflow: boolean }>;
  /** Next tool in the same session → count. */
  next: Record<string, number>;
}

export interface RateProfile {
  window_start: number;
  window_count: number;
  /** The current window already produced a spike finding: it is not learned as usual. */
  window_spiking: boolean;
  mean: number;
  variance: number;
  windows: number;
}

export interface BaselineSettings {
  learningCalls: number;
  learningMs: number;
  minSamples: number;
  rateWindowMs: number;
  cooldownMs: number;
  timeZone: string;
  escalation: EscalationSettings;
}

export const SESSION_IDLE_MS = 30 * 60_000;
const MAX_OPEN_SESSIONS = 500;
const MAX_RECENT_IDS = 256;
const MAX_KEYS_PER_TOOL = 200;
/**
 * Bounds on what one agent's state can hold, whatever names a caller sends: the state lives in memory and is
 * rewritten after every batch. Past a bound, new names are still seen by the detectors (first-seen, novel key)
 * but no longer learned.
 */
const MAX_TOOLS = 1_000;
const MAX_PATHS_PER_TOOL = 200;
const MAX_TRANSITIONS_PER_TOOL = 200;
/** How far a new window moves the usual rate (after the first windows, which are a plain mean). */
const RATE_ALPHA = 0.1;

/**
 * A record keyed by names a caller chose (session ids, tool names, argument names and values): without a
 * prototype, so that `__proto__`, `constructor` or `toString` are names like any other. On an ordinary object,
 * `tools['__proto__']` is Object.prototype: a tool named so made the consumer throw on every delivery of its
 * batch (its partition stalled), and a session named so wrote into Object.prototype.
 */
function names<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}

/** `names()` holding `record`'s own entries (a record parsed from JSON has Object.prototype). */
function namesFrom<T>(record: Record<string, T> | undefined): Record<string, T> {
  return Object.assign(names<T>(), record);
}

function emptyToolProfile(): ToolProfile {
  return { calls: 0, keys: names(), numeric: names(), categorical: names(), next: names() };
}

/** A baseline read back from its JSON (baseline-store.ts): every record keyed by names without a prototype. */
export function restoredBaseline(parsed: AgentBaseline): AgentBaseline {
  const tools = names<ToolProfile>();
  for (const [name, tool] of Object.entries(parsed.tools ?? {})) {
    const categorical = names<ToolProfile['categorical'][string]>();
    for (const [path, category] of Object.entries(tool.categorical ?? {}))
      categorical[path] = { ...category, values: namesFrom(category.values) };
    tools[name] = {
      ...tool,
      keys: namesFrom(tool.keys),
      numeric: namesFrom(tool.numeric),
      categorical,
      next: namesFrom(tool.next),
    };
  }
  return {
    ...parsed,
    tools,
    sessions: namesFrom(parsed.sessions),
    cooldowns: namesFrom(parsed.cooldowns),
    positions: namesFrom(parsed.positions),
  };
}

export function newBaseline(tenantId: string, agentId: string, atMs: number): AgentBaseline {
  return {
    tenant_id: tenantId,
    agent_id: agentId,
    calls: 0,
    first_seen_at: atMs,
    last_seen_at: atMs,
    learning_ended_at: null,
    enforces: false,
    tools: names(),
    hours: Array.from({ length: 24 }, () => 0),
    rate: { window_start: 0, window_count: 0, window_spiking: false, mean: 0, variance: 0, windows: 0 },
    sessions: names(),
    session_length: emptySketch(),
    blocked_at: [],
    escalation: [],
    published_level: null,
    published_finding_ids: [],
    cooldowns: names(),
    recent_event_ids: [],
    positions: names(),
    version: 0,
  };
}

export interface CallAnalysis {
  /** Findings to record (learning ones included). */
  findings: FindingRecord[];
  /** The escalation changed (a non-learning finding was added). */
  escalated: boolean;
}

/**
 * Runs every detector on a call against the baseline as it stood before it, then learns the call. Mutates
 * `baseline`. A call already applied (same event id) changes nothing. Deterministic: finding ids derive from
 * the event id and detector, so a replayed batch yields the same findings.
 */
export function analyzeCall(
  baseline: AgentBaseline,
  call: CallObservation,
  s: BaselineSettings,
): CallAnalysis {
  if (recentIds(baseline).has(call.eventId)) return { findings: [], escalated: false };
  const learning = baseline.learning_ended_at === null;
  const detections: Detection[] = [];
  const add = (d: Detection | undefined) => d && detections.push(d);
  const tool = baseline.tools[call.toolName];
  const toolCalls = tool?.calls ?? 0;

  add(firstSeenTool(call.toolName, toolCalls, baseline.calls, s.minSamples));
  add(rareTool(call.toolName, toolCalls, baseline.calls, s.minSamples));
  const session = baseline.sessions[call.sessionId];
  if (session && tool) {
    const from = baseline.tools[session.last_tool];
    if (from) add(unusualTransition(session.last_tool, call.toolName, from.next, s.minSamples));
  }
  const hour = hourOfDay(call.atMs, s.timeZone);
  add(offHours(hour, baseline.hours, baseline.calls, s.minSamples, s.timeZone));
  const outliers = new Set<string>();
  if (tool) {
    for (const key of call.argKeys) add(novelArgKey(call.toolName, key, tool.keys, tool.calls, s.minSamples));
    for (const leaf of call.args) {
      if (typeof leaf.value === 'number') {
        const found = numericOutlier(
          call.toolName,
          leaf.path,
          leaf.value,
          tool.numeric[leaf.path],
          s.minSamples,
        );
        if (found) outliers.add(leaf.path);
        add(found);
      } else
        add(novelArgValue(call.toolName, leaf.path, leaf.value, tool.categorical[leaf.path], s.minSamples));
    }
  }
  learnRate(baseline.rate, call.atMs, s.rateWindowMs);
  const spike = rateSpike(baseline.rate.window_count, baseline.rate, s.rateWindowMs / 1000);
  if (spike) baseline.rate.window_spiking = true;
  add(spike);
  if (call.blockedByPolicy) {
    baseline.blocked_at = [...baseline.blocked_at, call.atMs].filter(
      (at) => at > call.atMs - BLOCKED_BURST_WINDOW_MS,
    );
    add(blockedBurst(baseline.blocked_at, call.atMs));
  }

  learnCall(baseline, call, hour, outliers);
  if (learning && baseline.calls >= s.learningCalls && call.atMs - baseline.first_seen_at >= s.learningMs)
    baseline.learning_ended_at = call.atMs;

  const findings: FindingRecord[] = [];
  let escalated = false;
  for (const detection of detections) {
    const key = `${detection.detector}|${detection.subject}`;
    const previous = baseline.cooldowns[key];
    // Within the cooldown only a clearly stronger finding of the same subject is reported again.
    if (previous && call.atMs - previous.at < s.cooldownMs && detection.score < previous.score + 10) continue;
    baseline.cooldowns[key] = { at: call.atMs, score: detection.score };
    const finding = findingRecord(call, detection, learning);
    findings.push(finding);
    if (learning) continue;
    baseline.escalation = withEntry(
      baseline.escalation,
      {
        finding_id: finding.finding_id,
        detector: detection.detector,
        subject: detection.subject,
        points: detection.score,
        at: call.atMs,
        explanation: detection.explanation,
      },
      s.cooldownMs,
      s.escalation.halfLifeMs,
    );
    escalated = true;
  }
  for (const [key, value] of Object.entries(baseline.cooldowns))
    if (call.atMs - value.at >= s.cooldownMs) delete baseline.cooldowns[key];
  return { findings, escalated };
}

function learnCall(
  baseline: AgentBaseline,
  call: CallObservation,
  hour: number,
  outliers: Set<string>,
): void {
  baseline.calls += 1;
  baseline.last_seen_at = Math.max(baseline.last_seen_at, call.atMs);
  if (call.fromDecision) baseline.enforces = true;
  baseline.hours[hour] = (baseline.hours[hour] ?? 0) + 1;
  const known = baseline.tools[call.toolName];
  if (known || Object.keys(baseline.tools).length < MAX_TOOLS) {
    const tool = known ?? emptyToolProfile();
    baseline.tools[call.toolName] = tool;
    learnToolCall(tool, call, outliers);
  }
  const session = baseline.sessions[call.sessionId];
  if (session) {
    const from = baseline.tools[session.last_tool];
    if (from && (call.toolName in from.next || Object.keys(from.next).length < MAX_TRANSITIONS_PER_TOOL))
      from.next[call.toolName] = (from.next[call.toolName] ?? 0) + 1;
    session.calls += 1;
    session.last_tool = call.toolName;
    session.last_seen = Math.max(session.last_seen, call.atMs);
  } else {
    baseline.sessions[call.sessionId] = { calls: 1, last_tool: call.toolName, last_seen: call.atMs };
    const known = sweeps.get(baseline);
    if (known) {
      known.open++;
      // Times may come out of order: a new session can be idle before any other.
      known.nextIdleAtMs = Math.min(known.nextIdleAtMs, call.atMs + SESSION_IDLE_MS);
    }
  }
  closeIdleSessions(baseline, call.atMs);
  const recent = recentIds(baseline);
  baseline.recent_event_ids.push(call.eventId);
  recent.add(call.eventId);
  if (baseline.recent_event_ids.length > MAX_RECENT_IDS)
    for (const gone of baseline.recent_event_ids.splice(0, baseline.recent_event_ids.length - MAX_RECENT_IDS))
      recent.delete(gone);
}

/**
 * `recent_event_ids` as a set, kept beside the baseline (not stored: built again from the array after a load):
 * every call asks whether it was applied, and a scan of the array's 256 ids was a few percent of the consumer.
 */
const recentSets = new WeakMap<AgentBaseline, Set<string>>();

function recentIds(baseline: AgentBaseline): Set<string> {
  let set = recentSets.get(baseline);
  if (!set || set.size !== baseline.recent_event_ids.length) {
    set = new Set(baseline.recent_event_ids);
    recentSets.set(baseline, set);
  }
  return set;
}

/** The per-tool profile: calls, argument keys, numeric and categorical argument values. */
function learnToolCall(
  tool: AgentBaseline['tools'][string],
  call: CallObservation,
  outliers: Set<string>,
): void {
  tool.calls += 1;
  for (const key of call.argKeys)
    if (key in tool.keys || Object.keys(tool.keys).length < MAX_KEYS_PER_TOOL)
      tool.keys[key] = (tool.keys[key] ?? 0) + 1;
  const isLearned = (path: string) => path in tool.numeric || path in tool.categorical;
  // Counted before the loop, as the loop's known paths may add entries; but only when some path is new (the usual
  // call's are all learned, and a learned path never reads the count).
  let paths = call.args.every((leaf) => isLearned(leaf.path))
    ? 0
    : Object.keys(tool.numeric).length + Object.keys(tool.categorical).length;
  for (const leaf of call.args) {
    const learned = isLearned(leaf.path);
    if (!learned && paths >= MAX_PATHS_PER_TOOL) continue;
    if (!learned) paths++;
    if (typeof leaf.value === 'number') {
      // An outlier is not learned as normal: a repeat is still an outlier.
      if (outliers.has(leaf.path)) continue;
      const sketch = tool.numeric[leaf.path] ?? emptySketch();
      tool.numeric[leaf.path] = sketch;
      addToSketch(sketch, leaf.value);
      continue;
    }
    const category = tool.categorical[leaf.path] ?? { values: names(), overflow: false };
    tool.categorical[leaf.path] = category;
    if (category.overflow) continue;
    const seen = category.values[leaf.value];
    category.values[leaf.value] = (seen ?? 0) + 1;
    // Only a new value can take the count past the limit (a value seen before left it as it was).
    if (seen === undefined && Object.keys(category.values).length > MAX_CATEGORIES) {
      category.overflow = true;
      category.values = names();
    }
  }
}

/**
 * What the last pass over a baseline's open sessions found: how many are open (kept up as sessions open), and
 * the earliest time one of them can be idle (a lower bound: a call only moves a session's last_seen later, and
 * a new session lowers it to its own).
 * Not part of the baseline: a baseline loaded or built anew has none, and its first call passes over them.
 */
interface SessionSweep {
  open: number;
  nextIdleAtMs: number;
}
const sweeps = new WeakMap<AgentBaseline, SessionSweep>();

/** Sessions idle for SESSION_IDLE_MS (or the oldest, past MAX_OPEN_SESSIONS) end: their length is learned. */
function closeIdleSessions(baseline: AgentBaseline, nowMs: number): void {
  // Runs on every call, but passes over the open sessions only when one of them may be idle by now or there
  // are too many: a pass on every call cost a fifth of the consumers' thread under load (an agent with hundreds
  // of open sessions). The same sessions close at the same calls as with a pass on every call.
  const known = sweeps.get(baseline);
  if (known && known.open <= MAX_OPEN_SESSIONS && nowMs < known.nextIdleAtMs) return;
  // Counted and closed with for…in, which allocates nothing (Object.entries made an array per open session).
  const sessions = baseline.sessions;
  let open = 0;
  for (const _id in sessions) open++;
  if (open > MAX_OPEN_SESSIONS) {
    const overflow = open - MAX_OPEN_SESSIONS;
    const byAge = Object.entries(sessions).sort((a, b) => a[1].last_seen - b[1].last_seen);
    byAge.forEach(([id, session], index) => {
      if (index < overflow || nowMs - session.last_seen >= SESSION_IDLE_MS) {
        addToSketch(baseline.session_length, session.calls);
        delete sessions[id];
      }
    });
  } else {
    for (const id in sessions) {
      const session = sessions[id]!;
      if (nowMs - session.last_seen >= SESSION_IDLE_MS) {
        addToSketch(baseline.session_length, session.calls);
        delete sessions[id];
      }
    }
  }
  let left = 0;
  let nextIdleAtMs = Number.POSITIVE_INFINITY;
  for (const id in sessions) {
    left++;
    nextIdleAtMs = Math.min(nextIdleAtMs, sessions[id]!.last_seen + SESSION_IDLE_MS);
  }
  sweeps.set(baseline, { open: left, nextIdleAtMs });
}

/**
 * Counts the call into its rate window. When a call lands in a later window, the finished one is learned into
 * the usual rate — unless it spiked (an anomaly must not become the norm). Windows without calls are not
 * learned: the baseline is the agent's rate while active.
 */
export function learnRate(rate: RateProfile, atMs: number, windowMs: number): void {
  const start = Math.floor(atMs / windowMs) * windowMs;
  if (start > rate.window_start) {
    if (rate.window_count > 0 && !rate.window_spiking) {
      const alpha = Math.max(RATE_ALPHA, 1 / (rate.windows + 1));
      const delta = rate.window_count - rate.mean;
      rate.mean += alpha * delta;
      rate.variance = (1 - alpha) * (rate.variance + alpha * delta * delta);
      rate.windows += 1;
    }
    rate.window_start = start;
    rate.window_count = 0;
    rate.window_spiking = false;
  }
  // A late event (an earlier window) counts into the current one: close enough for a rate.
  rate.window_count += 1;
}

/** Where a record is on the bus: its message, and its place in that message (a batch message holds many). */
export interface BusPosition {
  topic: string;
  partition: number;
  offset: string;
  index: number;
}

/** Whether the record at this bus position was applied to the baseline already (a redelivery). */
export function alreadyApplied(baseline: AgentBaseline, at: BusPosition): boolean {
  const last = baseline.positions[`${at.topic}/${at.partition}`];
  if (last === undefined) return false;
  // A position saved as a bare offset (before batch messages) covers its whole message.
  const colon = last.indexOf(':');
  const order = compareOffsets(at.offset, colon < 0 ? last : last.slice(0, colon));
  if (order !== 0) return order < 0;
  return colon < 0 || at.index <= Number(last.slice(colon + 1));
}

/**
 * Orders two bus offsets, decimal strings of whole numbers (Kafka's and the in-process bus's, never with a
 * leading zero): the longer is the larger, and of equal lengths the text orders them. Asked once a record, where
 * two BigInt parses were a few percent of the consumer's time.
 */
function compareOffsets(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

export function markApplied(baseline: AgentBaseline, at: BusPosition) {
  baseline.positions[`${at.topic}/${at.partition}`] = `${at.offset}:${at.index}`;
}

const hourFormats = new Map<string, Intl.DateTimeFormat>();
const HOUR_MS = 3_600_000;

export function hourOfDay(atMs: number, timeZone: string): number {
  // The default zone by arithmetic, for whole milliseconds from 1970 on (what ingest accepts): Intl's formatting
  // was a few percent of the consumer's time a call. Anything else is read by Intl, as before.
  if (timeZone === 'UTC' && Number.isSafeInteger(atMs) && atMs >= 0) return Math.floor(atMs / HOUR_MS) % 24;
  let format = hourFormats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', { timeZone, hour: 'numeric', hourCycle: 'h23' });
    hourFormats.set(timeZone, format);
  }
  return Number(format.format(atMs)) % 24;
}

function findingRecord(call: CallObservation, d: Detection, learning: boolean): FindingRecord {
  // Deterministic: the same event and detector always give the same id (a replay dedups downstream).
  const entropy = createHash('sha256')
    .update(`${call.eventId}\u0000${d.detector}\u0000${d.subject}`)
    .digest();
  return {
    finding_id: ulid(call.atMs, entropy),
    tenant_id: call.tenantId,
    agent_id: call.agentId,
    session_id: call.sessionId,
    tool_name: call.toolName,
    detector: d.detector,
    score: d.score,
    severity: severityOf(d.score),
    explanation: d.explanation,
    observed_json: JSON.stringify(d.observed),
    baseline_json: JSON.stringify(d.baseline),
    event_ids: [call.eventId],
    learning,
    occurred_at: call.atMs,
  };
}

/** The settings from the THOTH_BASELINE_* variables (services/platform/src/config.ts). */
export function baselineSettings(config: {
  THOTH_BASELINE_LEARNING_CALLS: number;
  THOTH_BASELINE_LEARNING_SECONDS: number;
  THOTH_BASELINE_MIN_SAMPLES: number;
  THOTH_BASELINE_RATE_WINDOW_SECONDS: number;
  THOTH_BASELINE_WARN_SCORE: number;
  THOTH_BASELINE_STEP_UP_SCORE: number;
  THOTH_BASELINE_BLOCK_SCORE: number;
  THOTH_BASELINE_DECAY_HALF_LIFE_SECONDS: number;
  THOTH_BASELINE_FINDING_COOLDOWN_SECONDS: number;
  THOTH_BASELINE_TIMEZONE: string;
}): BaselineSettings {
  return {
    learningCalls: config.THOTH_BASELINE_LEARNING_CALLS,
    learningMs: config.THOTH_BASELINE_LEARNING_SECONDS * 1_000,
    minSamples: config.THOTH_BASELINE_MIN_SAMPLES,
    rateWindowMs: Math.round(config.THOTH_BASELINE_RATE_WINDOW_SECONDS * 1_000),
    cooldownMs: config.THOTH_BASELINE_FINDING_COOLDOWN_SECONDS * 1_000,
    timeZone: config.THOTH_BASELINE_TIMEZONE,
    escalation: {
      warn: config.THOTH_BASELINE_WARN_SCORE,
      stepUp: config.THOTH_BASELINE_STEP_UP_SCORE,
      block: config.THOTH_BASELINE_BLOCK_SCORE,
      halfLifeMs: config.THOTH_BASELINE_DECAY_HALF_LIFE_SECONDS * 1_000,
    },
  };
}
