// A detail page's header: the way back to its list, the title (with a state beside it), the
// actions on the right, and a line under it.
import { Flex, Space, Typography } from 'antd';
import type { ReactNode } from 'react';
import { Link } from 'react-router';

export function PageHeader({ back, title, state, actions, children }: { back?: { to: string; label: string }; title: string; state?: ReactNode; actions?: ReactNode; children?: ReactNode }) {
  return (
    <div>
      {back && <Link to={back.to}>{back.label}</Link>}
      <Flex justify="space-between" align="center" wrap gap={8}>
        <Space align="center">
          <Typography.Title level={1} style={{ fontSize: 24, margin: 0 }}>{title}</Typography.Title>
          {state}
        </Space>
        {actions}
      </Flex>
      {children}
    </div>
  );
}

/** The ids of `?ids=a,b,…` (deduplicated, in order) and whether there are `min` to `max`. */
export function chosenIds(params: URLSearchParams, min = 2, max = 10): { ids: string[]; valid: boolean } {
  const ids = [...new Set((params.get('ids') ?? '').split(',').filter(Boolean))];
  return { ids, valid: ids.length >= min && ids.length <= max };
}
