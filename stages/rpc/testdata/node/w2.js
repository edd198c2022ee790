#!/usr/bin/env node
// A pipe rpc plugin written in Node.js without the Go SDK, following
// stages/rpc/PROTOCOL.md: it upper-cases every record (benchmark W2).
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

// 1. Refuse to run unless started by pipe (the magic cookie).
if (process.env.PIPE_RPC_PLUGIN !== '6d1c2a0e-pipe-transformer-v1') {
  process.stderr.write('This is a pipe rpc plugin: run it from a pipeline (type: rpc).\n');
  process.exit(1);
}

const opts = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const load = (file) => grpc.loadPackageDefinition(loader.loadSync(file, opts));
const pipe = load(path.join(__dirname, '../../proto/transformer.proto')).pipe.rpc.v1;
const health = load(path.join(__dirname, 'health.proto')).grpc.health.v1;
const controller = load(path.join(__dirname, 'controller.proto')).plugin;

let prefix = '';
const server = new grpc.Server({
  'grpc.max_receive_message_length': -1,
  'grpc.max_send_message_length': -1,
});

// 2. The Transformer service.
server.addService(pipe.Transformer.service, {
  Open(call, cb) {
    const config = JSON.parse(call.request.config_json.toString() || 'null') || {};
    if (config.prefix !== undefined && typeof config.prefix !== 'string') {
      return cb({ code: grpc.status.INVALID_ARGUMENT, details: 'prefix must be a string' });
    }
    prefix = config.prefix || '';
    cb(null, {});
  },
  TransformBatch(call, cb) {
    const results = call.request.records.map((rec) => {
      const text = rec.data.toString('utf8');
      return { records: [{ data: Buffer.from(prefix + text.toUpperCase(), 'utf8') }] };
    });
    cb(null, { results });
  },
  Flush(call, cb) { cb(null, { records: [] }); },
  Close(call, cb) { cb(null, {}); },
});

// 3. The health service, for the service name "plugin".
server.addService(health.Health.service, {
  Check(call, cb) { cb(null, { status: 'SERVING' }); },
});

// 4. go-plugin's controller: exit when the host is done.
server.addService(controller.GRPCController.service, {
  Shutdown(call, cb) {
    cb(null, {});
    setImmediate(() => process.exit(0));
  },
});

// 5. Listen, then print the handshake line on stdout.
server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    process.stderr.write(`cannot listen: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(`1|1|tcp|127.0.0.1:${port}|grpc\n`);
});
