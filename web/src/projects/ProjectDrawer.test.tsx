import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { Providers, newQueryClient } from '../app/Providers';
import { setLanguage } from '../i18n';
import { ProjectDrawer } from './ProjectDrawer';

const PROJECT = {
  id: 'prj_1',
  object: 'project',
  organization_id: 'org_1',
  name: 'Support bot',
  description: 'Answers for the help desk',
  visibility: 'organization',
  created_by: 'usr_1',
  created_at: 1,
  updated_at: 1,
  my_role: 'admin',
  my_permissions: ['manage_resources'],
};

function renderDrawer(project?: typeof PROJECT) {
  render(
    <Providers client={newQueryClient()}>
      <ProjectDrawer open project={project} onClose={() => undefined} onSaved={() => undefined} />
    </Providers>,
  );
}

describe('project drawer', () => {
  it('asks for a name before anything is sent, and says who will see the project', async () => {
    await setLanguage('en');
    renderDrawer();
    expect(screen.getByRole('radio', { name: 'Its members' })).toHaveProperty('checked', true);
    await userEvent.type(screen.getByLabelText('Name'), '   ');
    await userEvent.click(screen.getByRole('button', { name: 'Create project' }));
    expect(await screen.findByText('Give the project a name.')).toBeTruthy();
  });

  it("opens a project's settings with what it holds now, in Chinese too", async () => {
    await setLanguage('zh-CN');
    renderDrawer(PROJECT);
    expect(screen.getByText('Support bot 的设置')).toBeTruthy();
    expect(screen.getByLabelText('名称')).toHaveProperty('value', 'Support bot');
    expect(screen.getByRole('radio', { name: '组织内所有人（只读）' })).toHaveProperty('checked', true);
    expect(screen.getByRole('button', { name: '保存' })).toBeTruthy();
    await setLanguage('en');
  });
});
