/** Misuse of the simulator's imperative API (unknown host, address already in use, past time, ...). */
export class SimError extends Error {
  readonly code = 'BRAID_ERR_SIM';
  override name = 'SimError';
}

/** An invalid scenario; the message names the offending field, e.g. `links["A.wifi"].loss`. */
export class ScenarioError extends Error {
  readonly code = 'BRAID_ERR_SCENARIO';
  override name = 'ScenarioError';
}
