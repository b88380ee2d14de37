export { StateMachine, runAll } from './state.ts';
