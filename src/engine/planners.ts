import { ThumbnailerError } from '../errors.js';
import { planAnimatedOutput } from './animated-output.js';
import { planBifOutput } from './bif-output.js';
import { MAX_PLAN_OUTPUTS, type PlannedOutput } from './frameplan.js';
import type { OutputKind } from './options.js';
import type { BestFrame, OutputPlan, OutputPlanContext, PlannedBranch } from './output-plan.js';
import { planPosterOutput } from './poster-output.js';
import { planStoryboardOutput } from './storyboard-output.js';
import { planStripOutput } from './strip-output.js';
import type { OutputFile } from './types.js';

type Planner = (ctx: OutputPlanContext) => OutputPlan | Promise<OutputPlan>;

/**
 * One planner per output kind, in the order of the run: a request's place is its bit in the
 * selection file's time codes, and the manifest lists the files in this order.
 */
const PLANNERS: Record<OutputKind, Planner> = {
  strip: planStripOutput,
  storyboard: planStoryboardOutput,
  poster: planPosterOutput,
  animated: planAnimatedOutput,
  bif: planBifOutput,
};

/** The requested outputs' part in the run, and how their files are made once it is over. */
export interface JobOutputs {
  /** Every output's frame requests, in order: the frame plan's requests. */
  branches: PlannedBranch[];
  /** The output made of the best of its frames (the poster), and its request's index. */
  best?: { request: number; output: BestFrame };
  /** After the run: each output's files, in order (`chosen`: the best frame's candidate). */
  assemble: (planned: PlannedOutput[], chosen: number | undefined) => Promise<OutputFile[]>;
}

export async function planOutputs(ctx: OutputPlanContext): Promise<JobOutputs> {
  const branches: PlannedBranch[] = [];
  const planned: { plan: OutputPlan; first: number }[] = [];
  let best: JobOutputs['best'];
  for (const kind of Object.keys(PLANNERS) as OutputKind[]) {
    if (!ctx.options.outputs.includes(kind)) continue;
    const plan = await PLANNERS[kind](ctx);
    if (plan.best) best = { request: branches.length, output: plan.best };
    planned.push({ plan, first: branches.length });
    branches.push(...plan.branches);
  }
  // At most six requests (strip, two storyboard groups, poster, animated, bif): the storyboard's
  // extra widths share their group's request.
  if (branches.length > MAX_PLAN_OUTPUTS) {
    throw new ThumbnailerError('E_INTERNAL', `A frame plan feeds at most ${MAX_PLAN_OUTPUTS} outputs.`);
  }
  return {
    branches,
    best,
    assemble: async (outputs, chosen) => {
      const files: OutputFile[] = [];
      for (const { plan, first } of planned) {
        files.push(...(await plan.finish(outputs.slice(first, first + plan.branches.length), chosen)));
      }
      return files;
    },
  };
}
