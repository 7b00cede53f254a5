-- Argo CD action `cancel` on a prefect.io FlowRun: the same as
--   kubectl patch flowrun NAME --type merge -p '{"spec":{"cancel":true}}'
-- The operator latches the request in status.cancelRequestedAt, so a later self-heal that puts
-- spec.cancel back to what Git says cannot un-cancel the run.
if obj.spec == nil then
  obj.spec = {}
end
obj.spec.cancel = true
return obj
