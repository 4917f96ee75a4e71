import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app';

const root = document.getElementById('root');
if (!root) throw new Error('#root is missing from index.html');
// StrictMode mounts every component twice in development builds: useRoom still joins once.
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
