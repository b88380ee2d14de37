export { StateMachine, runAll } from './state.ts';
export { StartupError } from './startup-error.ts';
