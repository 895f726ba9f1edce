import { randomUUID } from 'node:crypto';
import { EventBatcher } from './event-batcher.ts';
import { McpSessionGovernor } from './mcp-session-governor.ts';
import type { GovernanceOptions } from './proxy-options.ts';
import { ThothApiClient } from './thoth-api-client.ts';
import { ToolCallGovernor } from './tool-call-governor.ts';

/** What both transports share: one Thoth client, one event batcher, one decider; a governor per MCP session. */
export class ProxyRuntime {
  readonly api: ThothApiClient;
  readonly events: EventBatcher;
  readonly governor: ToolCallGovernor;

  constructor(
    readonly options: GovernanceOptions,
    readonly warn: (message: string) => void,
  ) {
    this.api = new ThothApiClient(options.apiUrl, options.apiKey);
    this.events = new EventBatcher({
      post: (events) => this.api.postEvents(events, options.timeoutMs),
      warn,
    });
    this.governor = new ToolCallGovernor({ options, api: this.api, warn });
  }

  session(sessionId: string = randomUUID()): McpSessionGovernor {
    return new McpSessionGovernor({
      options: this.options,
      governor: this.governor,
      events: this.events,
      sessionId,
    });
  }

  /** Sends the events still queued (bounded), then lets the process end. */
  async close(): Promise<void> {
    await this.events.drain(2_000);
    this.api.close();
  }
}

/** Diagnostics go to stderr only: stdout belongs to MCP. */
export function stderrWarn(message: string): void {
  process.stderr.write(`${message}\n`);
}
