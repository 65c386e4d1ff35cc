//! What an op's forward lowering sees: [`ForwardCx`] over the driver.

use nnspec_dsl::ir::ValueId;
use nnspec_dsl::ops::ForwardCx;
use nnspec_runtime::plan::{BufferId, BufferType, ParamId, Size};

use super::Lowering;

/// The forward lowering of one value.
pub(super) struct ForwardLowering<'a, 'm> {
    pub(super) lowering: &'a mut Lowering<'m>,
    /// The value whose op is lowered (the layer of a fused pair).
    pub(super) value: ValueId,
    /// The value the step's result is (the relu of a fused pair).
    pub(super) output_value: ValueId,
    pub(super) y: BufferId,
    pub(super) fused: bool,
}

impl ForwardCx for ForwardLowering<'_, '_> {
    fn input(&self, i: usize) -> BufferId {
        self.lowering
            .buffer_of(self.lowering.model.value(self.value).inputs[i])
    }

    fn input_shape(&self, i: usize) -> &[usize] {
        let model = self.lowering.model;
        model.value(model.value(self.value).inputs[i]).shape.dims()
    }

    fn input_count(&self) -> usize {
        self.lowering.model.value(self.value).inputs.len()
    }

    fn output_shape(&self) -> &[usize] {
        self.lowering.model.value(self.output_value).shape.dims()
    }

    fn output(&self) -> BufferId {
        self.y
    }

    fn view_input(&mut self) {
        let x = self.input(0);
        self.lowering.buffers[self.y.index()].alias_of = Some(x);
    }

    fn param(&self, position: usize) -> ParamId {
        self.lowering.param(self.value, position)
    }

    fn saved(&mut self, suffix: &str, size: Size, ty: BufferType) -> BufferId {
        let name = format!("{}.{suffix}", self.lowering.value_name(self.output_value));
        self.lowering.new_buffer(name, size, ty, None)
    }

    fn fused_relu(&self) -> bool {
        self.fused
    }
}
