import assert from 'node:assert/strict'
import { test } from 'node:test'
import { chosenExporters, otlpProtocol } from './telemetry.js'

test('tracing stays off unless an exporter or an OTLP endpoint is configured', () => {
  assert.deepEqual(chosenExporters({}), [])
  assert.deepEqual(chosenExporters({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), [])
  assert.deepEqual(chosenExporters({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }), ['otlp'])
  assert.deepEqual(chosenExporters({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }), ['otlp'])
  assert.deepEqual(chosenExporters({ OTEL_TRACES_EXPORTER: 'otlp, console' }), ['otlp', 'console'])
  assert.throws(() => chosenExporters({ OTEL_TRACES_EXPORTER: 'zipkin' }), /otlp, console or none/)
})

test('the OTLP protocol defaults to http/protobuf; the traces-specific variable wins', () => {
  assert.equal(otlpProtocol({}), 'http/protobuf')
  assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), 'http/json')
  assert.equal(otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }), 'http/protobuf')
  assert.throws(() => otlpProtocol({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /grpc is not bundled/)
})
