// The package's one entry: what the Thoth runtime (services/thoth) starts and the CLI calls.
export { ApprovalNotifier } from './approval-notifier.ts';
