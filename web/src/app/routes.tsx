// Routes: sign-in and sign-up outside the layout; every other page inside it, signed in.
import { createBrowserRouter, redirect } from 'react-router';
import { hasSession } from '../api/session';
import { AppLayout } from './AppLayout';

const requireSession = ({ request }: { request: Request }) => {
  if (hasSession()) return null;
  const next = new URL(request.url).pathname;
  return redirect(next === '/' ? '/sign-in' : `/sign-in?next=${encodeURIComponent(next)}`);
};

export const router = createBrowserRouter([
  { path: '/sign-in', lazy: async () => ({ Component: (await import('../pages/SignIn')).SignIn }) },
  { path: '/sign-up', lazy: async () => ({ Component: (await import('../pages/SignUp')).SignUp }) },
  {
    path: '/',
    loader: requireSession,
    Component: AppLayout,
    children: [
      { index: true, lazy: async () => ({ Component: (await import('../pages/Dashboard')).Dashboard }) },
      { path: 'projects', lazy: async () => ({ Component: (await import('../pages/Projects')).Projects }) },
      { path: 'projects/:projectId', lazy: async () => ({ Component: (await import('../pages/Project')).Project }) },
      { path: 'datasets', lazy: async () => ({ Component: (await import('../pages/Datasets')).Datasets }) },
      { path: 'models', lazy: async () => ({ Component: (await import('../pages/Models')).Models }) },
      { path: 'models/:modelId', lazy: async () => ({ Component: (await import('../pages/Model')).Model }) },
      { path: 'jobs', lazy: async () => ({ Component: (await import('../pages/Jobs')).Jobs }) },
      { path: 'jobs/compare', lazy: async () => ({ Component: (await import('../pages/JobsCompare')).JobsCompare }) },
      { path: 'jobs/new', lazy: async () => ({ Component: (await import('../pages/NewJob')).NewJob }) },
      { path: 'jobs/:jobId', lazy: async () => ({ Component: (await import('../pages/Job')).Job }) },
      { path: 'evaluations', lazy: async () => ({ Component: (await import('../pages/Evaluations')).Evaluations }) },
      { path: 'evaluations/compare', lazy: async () => ({ Component: (await import('../pages/EvaluationsCompare')).EvaluationsCompare }) },
      { path: 'evaluations/:evaluationId', lazy: async () => ({ Component: (await import('../pages/Evaluation')).Evaluation }) },
      { path: 'human-evals', lazy: async () => ({ Component: (await import('../pages/HumanEvals')).HumanEvals }) },
      { path: 'human-evals/:humanEvalId', lazy: async () => ({ Component: (await import('../pages/HumanEval')).HumanEval }) },
      { path: 'human-evals/:humanEvalId/rate', lazy: async () => ({ Component: (await import('../pages/HumanEvalRate')).HumanEvalRate }) },
      { path: 'deployments', lazy: async () => ({ Component: (await import('../pages/Deployments')).Deployments }) },
      { path: 'deployments/:deploymentId', lazy: async () => ({ Component: (await import('../pages/Deployment')).Deployment }) },
      { path: 'traffic-splits/:splitId', lazy: async () => ({ Component: (await import('../pages/TrafficSplit')).TrafficSplit }) },
      { path: 'api-keys', lazy: async () => ({ Component: (await import('../pages/ApiKeys')).ApiKeys }) },
      { path: 'admin/resources', lazy: async () => ({ Component: (await import('../pages/Resources')).Resources }) },
      { path: 'admin/audit', lazy: async () => ({ Component: (await import('../pages/Audit')).Audit }) },
      { path: 'admin/organization', lazy: async () => ({ Component: (await import('../pages/Organization')).Organization }) },
      { path: 'admin/users', lazy: async () => ({ Component: (await import('../pages/Users')).Users }) },
      { path: 'annotation-tasks/:taskId', lazy: async () => ({ Component: (await import('../pages/AnnotationTask')).AnnotationTask }) },
      { path: 'datasets/:datasetId', lazy: async () => ({ Component: (await import('../pages/Dataset')).Dataset }) },
      { path: '*', lazy: async () => ({ Component: (await import('../pages/NotFound')).NotFound }) },
    ],
  },
]);
