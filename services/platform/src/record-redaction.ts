import type { BehavioralEvent, DecisionEvent } from '@thoth/contracts';
import type { DecodedRecord } from './bus/record-consumer.ts';
import type { Config } from './config.ts';
import { createRedactor, type Redactor } from './redaction.ts';

/**
 * Header the API sets on the behavioral events it redacted at ingest. Events can also reach the events topic
 * without passing the API (an SDK's Kafka transport publishes them directly): consumers that store or export
 * (the audit writer, SIEM exports) redact every behavioral event without this header first, so secrets never
 * reach storage or a SIEM whichever way an event came in. Decision events are only ever produced by the API,
 * which redacts their tool arguments; consumers still redact their caller-supplied text (request id, purpose):
 * two short strings, and it covers decision events published without it.
 */
export const REDACTED_HEADER = 'thoth-redacted';

/** The redactor THOTH_REDACT_PATTERNS and THOTH_REDACT_CUSTOM_PATTERNS configure (the same in every service). */
export function configuredRedactor(
  config: Pick<Config, 'THOTH_REDACT_PATTERNS' | 'THOTH_REDACT_CUSTOM_PATTERNS'>,
): Redactor {
  return createRedactor({
    groups: config.THOTH_REDACT_PATTERNS,
    custom: config.THOTH_REDACT_CUSTOM_PATTERNS,
  });
}

/**
 * The record, with its behavioral event redacted unless the API already did, and its decision event's
 * caller-supplied text redacted; the same record when there was nothing to redact. Pure.
 */
export function redactedRecord(record: DecodedRecord, redactor: Redactor): DecodedRecord {
  if (record.schema === 'thoth.v1.DecisionEvent') {
    const value = redactDecisionEvent(record.value, redactor);
    return value === record.value ? record : { ...record, value };
  }
  if (record.schema !== 'thoth.v1.BehavioralEvent' || record.message.headers[REDACTED_HEADER] === '1')
    return record;
  return { ...record, value: redactBehavioralEvent(record.value, redactor) };
}

/** The event's free-form parts (content, metadata with the tool arguments, task context, purpose) redacted. */
function redactBehavioralEvent(e: BehavioralEvent, redactor: Redactor): BehavioralEvent {
  return {
    ...e,
    content: e.content === null ? null : redactText(e.content, redactor),
    metadata_json: redactText(e.metadata_json, redactor),
    task_context_json: e.task_context_json === null ? null : redactText(e.task_context_json, redactor),
    purpose: e.purpose === null ? null : redactor.text(e.purpose),
  };
}

/**
 * A decision event's text its caller chose (request id, purpose) redacted; the same object when nothing was.
 * For the enforce path that builds the event and for the consumers that store or export it alike.
 */
export function redactDecisionEvent(e: DecisionEvent, redactor: Redactor): DecisionEvent {
  const request_id = e.request_id === null ? null : redactor.text(e.request_id);
  const purpose = e.purpose === null ? null : redactor.text(e.purpose);
  return request_id === e.request_id && purpose === e.purpose ? e : { ...e, request_id, purpose };
}

/**
 * JSON text is redacted as a value (so secret-named fields count too) and re-serialized only when something was
 * redacted; anything else as plain text.
 */
function redactText(text: string, redactor: Redactor): string {
  const first = text.trimStart()[0];
  if (first === '{' || first === '[') {
    try {
      const value: unknown = JSON.parse(text);
      const redacted = redactor.value(value);
      // The same value back when nothing in it was redacted (copy on write).
      return redacted === value ? text : JSON.stringify(redacted);
    } catch {
      // Not JSON after all: plain text.
    }
  }
  return redactor.text(text);
}
