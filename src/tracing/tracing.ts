import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Config } from '../config';

export interface Tracing {
  tracer: Tracer;
  resource: Resource;
  spanProcessor: SpanProcessor;
  shutdown(): Promise<void>;
}

/**
 * Off unless the standard variables ask for it: `OTEL_TRACES_EXPORTER=otlp|console`, or an OTLP
 * endpoint with no exporter named. `none` turns it off even with an endpoint.
 */
export function tracingExporterFromConfig(config: Pick<Config, 'OTEL_TRACES_EXPORTER' | 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'>): 'otlp' | 'console' | undefined {
  if (config.OTEL_TRACES_EXPORTER === 'none') return undefined;
  if (config.OTEL_TRACES_EXPORTER) return config.OTEL_TRACES_EXPORTER;
  return config.OTEL_EXPORTER_OTLP_ENDPOINT || config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ? 'otlp' : undefined;
}

/**
 * Installs the process-wide tracer provider (AsyncLocalStorage context, W3C trace context) and
 * returns what the Temporal interceptors need. The OTLP exporter reads the standard OTEL_EXPORTER_OTLP_*
 * variables itself. Tests pass their own exporter.
 */
export function startTracing(service: 'api' | 'worker', exporter: 'otlp' | 'console' | SpanExporter): Tracing {
  const resource = new Resource({ 'service.name': process.env.OTEL_SERVICE_NAME ?? `keel-${service}` });
  const spanProcessor =
    exporter === 'otlp'
      ? new BatchSpanProcessor(new OTLPTraceExporter())
      : exporter === 'console'
        ? new SimpleSpanProcessor(new ConsoleSpanExporter())
        : new SimpleSpanProcessor(exporter);
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  return { tracer: trace.getTracer('keel'), resource, spanProcessor, shutdown: () => provider.shutdown() };
}
