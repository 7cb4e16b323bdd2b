import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { createMemoryRouter, RouterProvider } from 'react-router';
import { Providers, newQueryClient } from '../app/Providers';
import { setLanguage } from '../i18n';
import { safeNext, SignIn } from './SignIn';

function renderSignIn() {
  const router = createMemoryRouter([{ path: '/sign-in', Component: SignIn }], { initialEntries: ['/sign-in'] });
  render(
    <Providers client={newQueryClient()}>
      <RouterProvider router={router} />
    </Providers>,
  );
}

describe('sign-in', () => {
  it('says what is missing, in the chosen language', async () => {
    await setLanguage('en');
    renderSignIn();
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('Enter your email address.')).toBeTruthy();
    expect(await screen.findByText('Enter your password.')).toBeTruthy();

    await userEvent.click(screen.getByText('中文'));
    expect(await screen.findByText('请输入邮箱地址。')).toBeTruthy();
    expect(screen.getByRole('button', { name: '登录' })).toBeTruthy();
    expect(document.documentElement.lang).toBe('zh-CN');
    await setLanguage('en');
  });

  it('refuses a malformed email before asking the server', async () => {
    await setLanguage('en');
    renderSignIn();
    await userEvent.type(screen.getByLabelText('Email'), 'not-an-address');
    await userEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('Enter a valid email address, such as you@example.com.')).toBeTruthy();
  });

  it('sends people on only to paths of this site', () => {
    expect(safeNext('/datasets/ds_1')).toBe('/datasets/ds_1');
    expect(safeNext('//evil.example/x')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});
