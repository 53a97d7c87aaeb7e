import { Context } from '@temporalio/activity';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, Next } from '@temporalio/worker';
import type { KeelMetrics } from './metrics';

/** Times every activity attempt by activity type, so each step's latency is measured the same way. */
export class StepMetricsInterceptor implements ActivityInboundCallsInterceptor {
  constructor(private readonly metrics: KeelMetrics) {}

  async execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    const end = this.metrics.stepDuration.startTimer({ step: Context.current().info.activityType });
    try {
      const result = await next(input);
      end({ outcome: 'completed' });
      return result;
    } catch (err) {
      end({ outcome: Context.current().cancellationSignal.aborted ? 'cancelled' : 'failed' });
      throw err;
    }
  }
}
