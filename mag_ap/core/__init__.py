"""Pure protocol logic of the MAG: binding state machine, timers, actions (no IO)."""
