// Exports and live forwarding (issue 3, seed 002): one-off exports of any search, scheduled
// exports to a directory, and forwarding of every stored event to SIEMs.
export { EXPORT_KINDS, columnsOf, type ExportKind } from './columns.js';
export { EXPORT_FORMATS, encoderFor, csvCell, csvRow, ndjsonLine, type ExportFormat } from './formats.js';
export { gatewayVersion, MANIFEST_VERSION, type ExportManifest } from './manifest.js';
export { streamExport, streamSink, ExportWriter, type ExportSink, type StreamExportResult } from './writer.js';
export { checkExport, runExport, exportFilters, type QueryExport } from './query-export.js';
export { openExportFile, writeManifestFile, manifestPath } from './files.js';
export { CommitFeed, type Subscribe } from './feed.js';
export { ScheduledExport, SCHEDULE_STATE_KEY, type ScheduledExportDeps, type ScheduleRunReport } from './schedule.js';
export { Forwarder, type ForwarderDeps, type ForwarderObserver, type ForwarderStats } from './forward/forwarder.js';
export type { ExportStore } from './source.js';
export { ExportServices, type ExportServicesDeps } from './service.js';
