import { RouterProvider } from 'react-router';
import { newQueryClient, Providers } from './Providers';
import { router } from './routes';

const queryClient = newQueryClient();

export function App() {
  return (
    <Providers client={queryClient}>
      <RouterProvider router={router} />
    </Providers>
  );
}
