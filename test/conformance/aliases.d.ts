// The older majors are installed under aliases beside the current ones; their APIs used
// here match the current types.
declare module 'express4' {
  import express from 'express';
  export default express;
}
declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}
