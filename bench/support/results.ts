/** The shape of one run's results file (bench/results/<timestamp>.json). */
import type { BacklogDrainResult } from '../backlogDrain.ts';
import type { LatencyResult } from '../commitLatency.ts';
import type { PeerResult } from '../graphileWorkerPeer.ts';
import type { ThroughputResult } from '../sinkLimit.ts';
import type { WriterOverheadResult } from '../writerOverhead.ts';
import type { MachineInfo } from './benchEnv.ts';
import type { TargetCheck } from './targets.ts';

export type BenchMode = 'tiny' | 'quick' | 'full';

export interface BenchSettings {
  mode: BenchMode;
  drainEvents: number;
  scaleOutEvents: number;
  scaleOutRelays: number[];
  sinkEvents: number;
  naiveSeconds: number;
  peerEvents: number;
  /** Jobs for the peer's no-op runs (its own capacity, against the null-sink relay); absent in older runs. */
  peerNoopEvents?: number;
  /** Events of the null-sink drain (the relay apart from the sink); absent in older runs. */
  nullSinkEvents?: number;
  /** Relay concurrency of the null-sink drain: sized for a sink that answers at once (the default, 2, is measured too). */
  nullSinkConcurrency?: number;
  latencyRates: number[];
  latencySeconds: number;
  notifyTargetRate: number;
  pollIntervalMs: number;
  writerConcurrency: number[];
  writerWindowSeconds: number;
  writerRounds: number;
  batchSize: number;
  relayConcurrency: number;
}

export interface BenchResults {
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  settings: BenchSettings;
  sinkLimit: ThroughputResult;
  sourceLimit: ThroughputResult;
  drain: BacklogDrainResult;
  scaleOut: BacklogDrainResult[];
  naive: ThroughputResult;
  /** graphile-worker at its defaults with the fenced upsert (comparable with older runs). */
  peer: PeerResult;
  /** Every peer run: default and best settings, fenced upsert and no-op (absent in older runs). */
  peers?: PeerResult[];
  /** The relay process with a sink that acknowledges at once, at nullSinkConcurrency (absent in older runs). */
  nullSink?: BacklogDrainResult;
  /** The same null-sink drain with Node's default V8 settings: the deployed NODE_OPTIONS' cost, side by side. */
  nullSinkNodeDefaults?: BacklogDrainResult;
  /** The null-sink drain at the relay's default concurrency (2, the other drains' setting). */
  nullSinkDefaultConcurrency?: BacklogDrainResult;
  latency: LatencyResult[];
  writer: WriterOverheadResult[];
  targets: TargetCheck[];
}
